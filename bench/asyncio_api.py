"""The asyncio API against the sync one (issue 11): `await cache.aget(k)` hit vs `cache.get(k)`
hit (goal: within 3x), `aset` vs `set`, and the event loop's heartbeat while another process
holds the cache's lock for a second and a coroutine awaits `aset`.

    PYTHONPATH=python python3 bench/asyncio_api.py [--n 100000] [--reps 7]

Per-call costs are the best of `reps` runs of `n` calls (the least disturbed by other work
on the machine), with the median. The async calls are awaited one after another inside one
coroutine, as an application's handler would.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import diskcache_swift as dcs


def best_and_median(samples):
    return min(samples), statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--n', type=int, default=100_000)
    parser.add_argument('--reps', type=int, default=7)
    args = parser.parse_args()
    n = args.n
    directory = tempfile.mkdtemp(prefix='dcs-bench-asyncio-')
    try:
        cache = dcs.Cache(directory)
        cache.set('key', 'value')
        get, aget, set_, aset = cache.get, cache.aget, cache.set, cache.aset

        def sync_get():
            t = time.perf_counter()
            for _ in range(n):
                get('key')
            return (time.perf_counter() - t) / n

        def sync_set():
            t = time.perf_counter()
            for i in range(n):
                set_('key', i)
            return (time.perf_counter() - t) / n

        async def async_get():
            t = time.perf_counter()
            for _ in range(n):
                await aget('key')
            return (time.perf_counter() - t) / n

        async def async_set():
            t = time.perf_counter()
            for i in range(n):
                await aset('key', i)
            return (time.perf_counter() - t) / n

        async def measure():
            # Interleaved (sync run, async run, ...) so that load from other work on the
            # machine falls on both alike; the ratio is also taken per pair.
            found = {'get hit': ([], [], []), 'set': ([], [], [])}
            for _ in range(args.reps):
                for name, sync, asynchronous in (('get hit', sync_get, async_get), ('set', sync_set, async_set)):
                    s, a = sync(), await asynchronous()
                    found[name][0].append(s)
                    found[name][1].append(a)
                    found[name][2].append(a / s)
            return found

        for name, (sync, asynchronous, ratios) in asyncio.run(measure()).items():
            (sb, sm), (ab, am) = best_and_median(sync), best_and_median(asynchronous)
            print('%-8s sync %6.0f ns (median %6.0f)   async %6.0f ns (median %6.0f)   best/best %.2fx, median of pair ratios %.2fx'
                  % (name, sb * 1e9, sm * 1e9, ab * 1e9, am * 1e9, ab / sb, statistics.median(ratios)))

        holder = (
            'import sys, time, diskcache_swift as dc\n'
            'c = dc.Cache(sys.argv[1])\n'
            'with c.transact():\n'
            '    print("locked", flush=True)\n'
            '    time.sleep(1.0)\n'
        )
        child = subprocess.Popen([sys.executable, '-c', holder, directory], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline() == 'locked\n'

        async def heartbeat_during_aset():
            ticks = []
            done = asyncio.Event()

            async def beat():
                while not done.is_set():
                    ticks.append(time.perf_counter())
                    await asyncio.sleep(0.005)

            task = asyncio.create_task(beat())
            await asyncio.sleep(0.02)
            start = time.perf_counter()
            await aset('contended', 1)
            waited = time.perf_counter() - start
            done.set()
            await task
            gaps = [b - a for a, b in zip(ticks, ticks[1:])]
            return waited, len(ticks), max(gaps)

        waited, beats, widest = asyncio.run(heartbeat_during_aset())
        child.wait()
        print('heartbeat: aset waited %.3f s for the other process; %d beats of 5 ms, widest gap %.1f ms'
              % (waited, beats, widest * 1e3))
        cache.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    main()
