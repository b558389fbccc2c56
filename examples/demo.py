"""diskcache_swift demo: memoize a slow function across processes, then show the speed of
the cache itself beside python-diskcache's.

    python3 examples/demo.py [DIRECTORY]
"""

import hashlib
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time

import diskcache_swift

DIRECTORY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), 'diskcache-swift-demo')


def slow_digest(n):
    """Real work: 20,000 rounds of SHA-256 seeded by n (~20 ms)."""
    h = str(n).encode()
    for _ in range(20000):
        h = hashlib.sha256(h).digest()
    return h.hex()[:16]


cache = diskcache_swift.Cache(DIRECTORY)
cached_digest = cache.memoize(name='slow_digest')(slow_digest)


def worker(numbers):
    start = time.perf_counter()
    results = [cached_digest(n) for n in numbers]
    return results, time.perf_counter() - start


def run_round(label, pool, chunks):
    hits_before, misses_before = cache.stats()
    start = time.perf_counter()
    outputs = pool.map(worker, chunks)
    elapsed = time.perf_counter() - start
    hits, misses = cache.stats()
    print('%-28s %8.1f ms wall, %4d hits, %4d misses' % (label, elapsed * 1000, hits - hits_before, misses - misses_before))
    return [r for results, _ in outputs for r in results]


def per_op(fn, n):
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def main():
    cache.clear()
    cache.stats(enable=True, reset=True)
    numbers = list(range(64))
    chunks = [numbers[i::4] for i in range(4)]
    print('diskcache_swift %s demo, cache at %s' % (diskcache_swift.__engine_version__, DIRECTORY))
    with mp.get_context('fork').Pool(4) as pool:
        first = run_round('4 processes, cold cache:', pool, chunks)
        second = run_round('4 processes, warm cache:', pool, chunks)
    assert first == second
    print('results agree across processes: %s ... (%d values)' % (first[0], len(first)))

    print('\nper-operation cost, 100-byte values, 20,000 operations each:')
    value = b'v' * 100
    rows = [('diskcache_swift', diskcache_swift.Cache)]
    try:
        import diskcache

        rows.append(('python-diskcache 5.6.3', diskcache.Cache))
    except ImportError:
        pass
    for label, cls in rows:
        directory = tempfile.mkdtemp()
        try:
            c = cls(directory)
            set_us = per_op(lambda i: c.set(i, value), 20000)
            get_us = per_op(lambda i: c.get(i), 20000)
            del_us = per_op(lambda i: c.delete(i), 20000)
            c.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        print('  %-24s set %6.2f µs   get %6.2f µs   delete %6.2f µs' % (label, set_us, get_us, del_us))


if __name__ == '__main__':
    main()
