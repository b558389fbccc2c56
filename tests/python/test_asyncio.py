"""asyncio API (diskcache_swift; python-diskcache #356): a-methods on Cache and FanoutCache
and memoize on `async def`. The event loop never blocks: a call that would wait goes to the
executor; an uncontended one completes on the loop's thread."""

import asyncio
import concurrent.futures
import os
import random
import subprocess
import sys
import threading
import time

import pytest

import diskcache_swift as dc

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(dc.__file__)))


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to it."""

    def __init__(self):
        super().__init__(max_workers=4)
        self.submitted = []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(getattr(fn, 'func', fn))
        return super().submit(fn, *args, **kwargs)


def run(coroutine_function):
    """Runs `coroutine_function(executor)` on a new loop; returns (result, executor)."""
    executor = CountingExecutor()

    async def main():
        asyncio.get_running_loop().set_default_executor(executor)
        return await coroutine_function(executor)

    try:
        return asyncio.run(main()), executor
    finally:
        executor.shutdown(wait=True)


@pytest.fixture(params=['cache', 'fanout'])
def pair(request, tmp_path):
    """Two empty caches of one kind: one driven synchronously, one through asyncio."""
    make = (lambda d: dc.Cache(d)) if request.param == 'cache' else (lambda d: dc.FanoutCache(d, shards=3))
    a, b = make(str(tmp_path / 'sync')), make(str(tmp_path / 'async'))
    yield a, b
    a.close()
    b.close()


# (method name, args, kwargs): a sequence whose results depend on what came before.
SCRIPT = [
    ('get', ('a',), {}),
    ('set', ('a', 1), {}),
    ('get', ('a',), {'expire_time': True, 'tag': True}),
    ('add', ('a', 2), {}),
    ('add', ('b', 'text', 100), {'tag': 't'}),
    ('get', ('b',), {'tag': True}),
    ('incr', ('a', 5), {}),
    ('decr', ('a',), {'delta': 2}),
    ('incr', ('n',), {'default': 10}),
    ('touch', ('b',), {'expire': None}),
    ('touch', ('missing',), {}),
    ('get', ('b',), {'expire_time': True}),
    ('set', ('big', b'x' * 100_000), {}),
    ('get', ('big',), {}),
    ('set', ((1, 'tuple'), {'pickled': [1, 2]}), {}),
    ('get', ((1, 'tuple'),), {}),
    ('set_many', ({'m1': 1, 'm2': 'two', 'm3': b'y' * 50_000},), {'tag': 'm'}),
    ('get_many', (['m1', 'm2', 'm3', 'nope', 'a'],), {}),
    ('get_many', (['m1', 'm2'],), {'tag': True}),
    ('pop', ('a',), {}),
    ('pop', ('a', 'default'), {}),
    ('pop', ('m2',), {'tag': True}),
    ('delete', ('b',), {}),
    ('delete', ('b',), {}),
    ('get', ('default-me', 'dflt'), {}),
]


def test_async_methods_give_the_sync_results(pair):
    sync, other = pair

    def normalise(result):
        # expire times differ by the moments the calls were made
        if isinstance(result, tuple) and len(result) >= 2 and isinstance(result[1], float):
            return (result[0], round(result[1]), *result[2:])
        return result

    expected = [normalise(getattr(sync, name)(*args, **kwargs)) for name, args, kwargs in SCRIPT]

    async def script(executor):
        return [normalise(await getattr(other, 'a' + name)(*args, **kwargs)) for name, args, kwargs in SCRIPT]

    results, _ = run(script)
    assert results == expected
    assert sorted(map(repr, sync.keys())) == sorted(map(repr, other.keys()))


def test_uncontended_calls_stay_on_the_loop_thread(tmp_path):
    cache = dc.Cache(str(tmp_path))

    async def calls(executor):
        await cache.aset('k', 'v')
        await cache.aadd('k2', 2)
        assert await cache.aget('k') == 'v'
        assert await cache.aincr('k2') == 3
        assert await cache.adecr('k2') == 2
        assert await cache.atouch('k', 10)
        assert await cache.aset_many({'x': 1, 'y': 2}) == 2
        assert await cache.aget_many(['x', 'y']) == {'x': 1, 'y': 2}
        assert await cache.apop('x') == 1
        assert await cache.adelete('y')
        uncontended = list(executor.submitted)
        # A pickled value is popped in a transaction (unpickling may fail; the item then
        # stays), which the engine does not begin without waiting: off the loop.
        await cache.aset('p', [1, 2])
        assert await cache.apop('p') == [1, 2]
        assert [f.__name__ for f in executor.submitted] == ['pop']
        executor.submitted.clear()
        # A value in a file of its own: written and read off the loop.
        await cache.aset('big', b'z' * 100_000)
        assert await cache.aget('big') == b'z' * 100_000
        return uncontended

    uncontended, executor = run(calls)
    assert uncontended == []
    assert [f.__name__ for f in executor.submitted] == ['set', 'get']


def test_heartbeat_keeps_ticking_while_another_process_holds_the_lock(tmp_path):
    directory = str(tmp_path / 'cache')
    cache = dc.Cache(directory)
    holder = (
        'import sys, time, diskcache_swift as dc\n'
        'c = dc.Cache(sys.argv[1])\n'
        'with c.transact():\n'
        '    c.set("held", 1)\n'
        '    print("locked", flush=True)\n'
        '    time.sleep(1.0)\n'
    )
    child = subprocess.Popen(
        [sys.executable, '-c', holder, directory],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, 'PYTHONPATH': PYTHON_DIR},
    )
    try:
        assert child.stdout.readline() == 'locked\n'

        async def contended(executor):
            ticks = []
            stop = asyncio.Event()

            async def heartbeat():
                while not stop.is_set():
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.005)

            beating = asyncio.create_task(heartbeat())
            await asyncio.sleep(0.02)
            start = time.monotonic()
            assert await cache.aset('mine', 'v')
            end = time.monotonic()
            # The child's transaction had committed before aset could write: it waited for it.
            assert cache.get('held') == 1
            stop.set()
            await beating
            during = [t for t in ticks if start <= t <= end]
            gaps = [b - a for a, b in zip(ticks, ticks[1:]) if a >= start - 0.01 and b <= end + 0.01]
            return len(during), max(gaps, default=0.0)

        (beats, widest), executor = run(contended)
        # A blocked loop would not tick at all while aset waited (about a second, 5 ms beats).
        assert beats >= 20
        assert widest < 0.5
        assert [f.__name__ for f in executor.submitted] == ['set']
        assert cache.get('mine') == 'v'
    finally:
        assert child.wait(timeout=60) == 0


def test_another_threads_transaction_goes_off_the_loop(tmp_path):
    cache = dc.Cache(str(tmp_path))
    entered, release = threading.Event(), threading.Event()

    def hold():
        with cache.transact():
            cache.set('t', 1)
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(10)

    async def write(executor):
        task = asyncio.ensure_future(cache.aset('k', 'v'))
        await asyncio.sleep(0.05)
        assert not task.done()  # waiting in the executor, the loop free
        release.set()
        return await task

    assert run(write)[0] is True
    thread.join()
    assert cache.get('k') == 'v' and cache.get('t') == 1


def test_read_only_and_errors_pass_through(tmp_path):
    directory = str(tmp_path)
    with dc.Cache(directory) as writer:
        writer.set('a', 'text')
    reader = dc.Cache(directory, read_only=True)

    async def calls(executor):
        assert await reader.aget('a') == 'text'
        with pytest.raises(dc.ReadOnlyError):
            await reader.aset('b', 1)
        with pytest.raises(TypeError):
            await reader.aget()
        with dc.Cache(directory) as writer:
            with pytest.raises(TypeError):
                await writer.aincr('a')

    run(calls)


def test_network_mode_always_goes_off_the_loop(tmp_path):
    cache = dc.Cache(str(tmp_path), network=True)

    async def calls(executor):
        await cache.aset('k', 'v')
        return await cache.aget('k')

    value, executor = run(calls)
    assert value == 'v'
    assert [f.__name__ for f in executor.submitted] == ['set', 'get']


def test_custom_disk_goes_off_the_loop(tmp_path):
    cache = dc.Cache(str(tmp_path), disk=dc.JSONDisk)

    async def calls(executor):
        await cache.aset('k', {'a': 1})
        return await cache.aget('k')

    value, executor = run(calls)
    assert value == {'a': 1}
    assert len(executor.submitted) == 2


@pytest.mark.parametrize('kind', ['cache', 'fanout'])
def test_async_memoize_computes_once_for_concurrent_callers(tmp_path, kind):
    cache = dc.Cache(str(tmp_path)) if kind == 'cache' else dc.FanoutCache(str(tmp_path), shards=2)
    calls = []

    @cache.memoize()
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        return x * 2

    assert asyncio.iscoroutinefunction(slow)

    async def main(executor):
        first = await asyncio.gather(*(slow(21) for _ in range(20)))
        again = await slow(21)
        other = await slow(1)
        return first, again, other

    (first, again, other), _ = run(main)
    assert first == [42] * 20 and again == 42 and other == 2
    assert calls == [21, 1]
    assert cache.get(slow.__cache_key__(21)) == 42


def test_async_memoize_errors_and_cancellation(tmp_path):
    cache = dc.Cache(str(tmp_path))
    calls = []

    @cache.memoize(name='f')
    async def failing(x):
        calls.append(x)
        await asyncio.sleep(0.02)
        raise ValueError(x)

    @cache.memoize(name='g')
    async def slow(x):
        calls.append(('slow', x))
        await asyncio.sleep(0.1)
        return x

    async def main(executor):
        errors = await asyncio.gather(*(failing(1) for _ in range(5)), return_exceptions=True)
        # The first caller's computation is cancelled: a waiting caller computes instead.
        first = asyncio.ensure_future(slow(7))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(slow(7))
        await asyncio.sleep(0.01)
        first.cancel()
        return errors, await second, first.cancelled()

    (errors, second, cancelled), _ = run(main)
    assert all(isinstance(e, ValueError) for e in errors) and calls[0] == 1 and calls.count(1) == 1
    assert cache.get(failing.__cache_key__(1)) is None
    assert second == 7 and cancelled
    assert calls.count(('slow', 7)) == 2


@pytest.mark.parametrize('kind', ['cache', 'fanout'])
def test_async_memoize_stampede_computes_once_then_recomputes_early_in_a_task(tmp_path, kind, monkeypatch):
    cache = dc.Cache(str(tmp_path)) if kind == 'cache' else dc.FanoutCache(str(tmp_path), shards=2)
    calls = []
    gate = {}  # while it holds an Event, computations wait for it

    @dc.memoize_stampede(cache, expire=5, beta=1)
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        if 'event' in gate:
            await gate['event'].wait()
        return x * 2

    assert asyncio.iscoroutinefunction(slow)
    key = slow.__cache_key__(21)

    async def first_calls(executor):
        return await asyncio.gather(*(slow(21) for _ in range(20)))

    results, _ = run(first_calls)
    assert results == [42] * 20 and calls == [21]
    (value, delta), expire_time = cache.get(key, expire_time=True)
    assert value == 42 and delta >= 0.04 and expire_time is not None

    # Early recomputation: random() near 0 makes -delta*beta*log(random()) exceed the ttl.
    # Every caller gets the cached value while the one recomputation is held at the gate.
    monkeypatch.setattr(random, 'random', lambda: 1e-300)

    async def near_expiry(executor):
        gate['event'] = asyncio.Event()
        got = await asyncio.wait_for(asyncio.gather(*(slow(21) for _ in range(5))), 30)
        held = cache.get(key, expire_time=True)[1]
        gate['event'].set()
        for _ in range(3000):  # until the background task has stored its result
            if cache.get(key, expire_time=True)[1] != held:
                break
            await asyncio.sleep(0.01)
        return got, held

    (got, held), _ = run(near_expiry)
    assert got == [42] * 5
    assert held == expire_time, 'the callers did not wait for the recomputation'
    assert calls == [21, 21], 'one early recomputation for five callers'
    (value, _), new_expire = cache.get(key, expire_time=True)
    assert value == 42 and new_expire > expire_time


def test_async_memoize_stampede_shares_errors(tmp_path):
    cache = dc.Cache(str(tmp_path))
    calls = []

    @dc.memoize_stampede(cache, expire=10)
    async def failing(x):
        calls.append(x)
        await asyncio.sleep(0.02)
        raise ValueError(x)

    async def main(executor):
        return await asyncio.gather(*(failing(1) for _ in range(4)), return_exceptions=True)

    errors, _ = run(main)
    assert all(isinstance(e, ValueError) for e in errors) and calls == [1]
    assert len(cache) == 0


def test_attempt_reports_a_refused_wait(tmp_path):
    cache = dc.Cache(str(tmp_path))
    assert dc.core._engine.attempt(cache.set, 'k', 'v') == (True, True)
    assert dc.core._engine.attempt(cache.get, 'k', default=None) == (True, 'v')
    assert dc.core._engine.attempt(cache.set, 'big', b'b' * 100_000) == (False, None)
    assert 'big' not in cache  # refused before any effect
    cache.set('pickled', {'a': 1})
    assert dc.core._engine.attempt(cache.pop, 'pickled') == (False, None)
    assert cache.get('pickled') == {'a': 1}
    assert dc.core._engine.attempt(cache.pop, 'k') == (True, 'v')
    assert 'k' not in cache
    with pytest.raises(TypeError):
        dc.core._engine.attempt()


def test_refused_get_many_counts_nothing(tmp_path):
    cache = dc.Cache(str(tmp_path), statistics=1)
    cache.set('a', 1)
    cache.set('big', b'b' * 100_000)
    before = cache.stats()
    # 'a' is seen before the value file is met: the refusal must not have counted it.
    assert dc.core._engine.attempt(cache.get_many, ['a', 'big']) == (False, None)
    assert cache.stats() == before
    assert cache.get_many(['a', 'big', 'nope']) == {'a': 1, 'big': b'b' * 100_000}
    assert cache.stats() == (before[0] + 2, before[1] + 1)


LAZY_PROGRAM = r'''
import sys, tempfile, functools
import diskcache_swift
# Importing the package loads neither asyncio nor inspect (they are most of the import time
# an eager import would cost); memoize still tells an async def from a plain one.
assert 'asyncio' not in sys.modules and 'inspect' not in sys.modules, sorted(m for m in ('asyncio', 'inspect') if m in sys.modules)
cache = diskcache_swift.Cache(tempfile.mkdtemp())
calls = []

@cache.memoize()
async def double(x):
    calls.append(x)
    return 2 * x

@cache.memoize()
def triple(x):
    return 3 * x

partial = cache.memoize(name='p')(functools.partial(double, 5))
assert 'inspect' not in sys.modules
assert triple(2) == 6
import asyncio
assert asyncio.iscoroutinefunction(double)
assert asyncio.run(double(4)) == 8 and asyncio.run(double(4)) == 8 and calls == [4]
assert asyncio.run(partial()) == 10
print('lazy ok')
'''


def test_package_import_loads_no_asyncio_and_memoize_still_tells_async_functions():
    path = os.path.dirname(os.path.dirname(dc.__file__))
    result = subprocess.run(
        [sys.executable, '-c', LAZY_PROGRAM], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'lazy ok'
