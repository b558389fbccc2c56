"""set_many / get_many / delete_many against the same items one call at a time (issue 11).

    PYTHONPATH=python python3 bench/batches.py [--items 1000] [--size 100] [--reps 30]

Prints the per-item cost of each: the best of `reps` runs (the least disturbed by other work
on the machine) and the median. Each run stores fresh keys into a cache that already holds
the previous runs' items.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time

import diskcache_swift as dcs


def measure(fn, reps):
    times = []
    for rep in range(reps):
        t = time.perf_counter()
        fn(rep)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--items', type=int, default=1000)
    parser.add_argument('--size', type=int, default=100)
    parser.add_argument('--reps', type=int, default=30)
    args = parser.parse_args()
    n = args.items
    value = os.urandom(args.size)
    directory = tempfile.mkdtemp(prefix='dcs-bench-batches-')
    try:
        cache = dcs.Cache(directory)
        batches = [[('k%d-%d' % (rep, i), value) for i in range(n)] for rep in range(args.reps)]
        singles = [[('s%d-%d' % (rep, i), value) for i in range(n)] for rep in range(args.reps)]

        def set_many(rep):
            cache.set_many(batches[rep])

        def set_loop(rep):
            set_ = cache.set
            for key, v in singles[rep]:
                set_(key, v)

        keys = [[k for k, _ in batch] for batch in batches]

        def get_many(rep):
            cache.get_many(keys[rep])

        def get_loop(rep):
            get = cache.get
            for key in keys[rep]:
                get(key)

        def delete_many(rep):
            cache.delete_many(keys[rep])

        skeys = [[k for k, _ in batch] for batch in singles]

        def delete_loop(rep):
            delete = cache.delete
            for key in skeys[rep]:
                delete(key)

        results = [
            ('set_many', measure(set_many, args.reps)),
            ('set x%d' % n, measure(set_loop, args.reps)),
            ('get_many', measure(get_many, args.reps)),
            ('get x%d' % n, measure(get_loop, args.reps)),
            ('delete_many', measure(delete_many, args.reps)),
            ('delete x%d' % n, measure(delete_loop, args.reps)),
        ]
        print('%d items of %d bytes, %d runs each: per-item cost' % (n, args.size, args.reps))
        for name, (best, median) in results:
            print('  %-14s best %7.3f us   median %7.3f us' % (name, best / n * 1e6, median / n * 1e6))
        cache.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    main()
