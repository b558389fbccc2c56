"""The GIL is never held while the engine waits (issue 10, "The GIL"): while one thread's call
waits on another process's lock, or on network-mode I/O through a slow filesystem, a second
Python thread keeps running.

The second thread counts ticks of `time.sleep(0.002)`; each tick needs the GIL back. While a
call holds the GIL the ticker is stuck, so it counts (almost) nothing during the call; while
the call waits with the GIL released it counts about one tick per 2-3 ms. The bounds below
are a quarter of that, far from both."""
import multiprocessing
import os
import threading
import time

import diskcache_swift as dc


class Ticker:
    def __init__(self):
        self.ticks = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            time.sleep(0.002)
            self.ticks += 1

    def __enter__(self):
        self.thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def _hold_lock(directory, held, seconds):
    cache = dc.Cache(directory)
    with cache.transact():
        cache.set('held', 1)
        held.set()
        time.sleep(seconds)
    cache.close()


def measure(call):
    """Runs `call` while a ticker runs; returns (seconds the call took, ticks meanwhile)."""
    with Ticker() as ticker:
        before = ticker.ticks
        start = time.monotonic()
        call()
        elapsed = time.monotonic() - start
        ticks = ticker.ticks - before
    return elapsed, ticks


def test_a_thread_runs_while_another_waits_for_another_processes_lock(tmpdir_path):
    cache = dc.Cache(tmpdir_path)
    cache.set('warm', 0)
    held = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmpdir_path, held, 1.0))
    holder.start()
    assert held.wait(30)
    elapsed, ticks = measure(lambda: cache.set('waiter', 2))
    holder.join()
    assert elapsed > 0.5, 'the write did not wait for the other process'
    assert ticks >= elapsed / 0.002 / 4, (elapsed, ticks)
    assert cache.get('waiter') == 2 and cache.get('held') == 1
    cache.close()


def test_a_thread_runs_while_another_waits_for_network_io(faultfs):
    mnt, set_rules = faultfs
    directory = os.path.join(mnt, 'cache')
    cache = dc.Cache(directory, network=True)
    cache.set('warm', 0)
    # Every claim (mkdir) and every publication (rename) takes 150 ms, as a slow share would.
    set_rules([{'op': 'mkdir', 'glob': '*', 'delay_ms': 150}, {'op': 'rename', 'glob': '*', 'delay_ms': 150}])
    try:
        elapsed, ticks = measure(lambda: [cache.set(f'k{i}', i) for i in range(3)])
    finally:
        set_rules([])
    assert elapsed > 0.6, 'the filesystem was not slow'
    assert ticks >= elapsed / 0.002 / 4, (elapsed, ticks)
    assert [cache.get(f'k{i}') for i in range(3)] == [0, 1, 2]
    cache.close()
