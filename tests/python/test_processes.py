"""Many processes on one directory: shared counters, memoize across processes, readers
seeing writers, and caches inherited through fork."""

import multiprocessing as mp
import os

import pytest

import diskcache_swift


def _incr(directory, n):
    cache = diskcache_swift.Cache(directory)
    for _ in range(n):
        cache.incr('counter', retry=True)


def _incr_inherited(cache, n):
    for _ in range(n):
        cache.incr('counter', retry=True)


def _memoized_calls(directory, results):
    cache = diskcache_swift.Cache(directory)

    @cache.memoize(name='slow')
    def slow(x):
        cache.incr('calls')
        return x * 2

    results.put([slow(i) for i in range(20)])


@pytest.mark.parametrize('method', ['fork', 'spawn'])
def test_shared_counter(tmpdir_path, method):
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_incr, args=(tmpdir_path, 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert diskcache_swift.Cache(tmpdir_path)['counter'] == 2000


def test_cache_inherited_by_fork(tmpdir_path):
    cache = diskcache_swift.Cache(tmpdir_path)
    cache['before'] = 1
    ctx = mp.get_context('fork')
    procs = [ctx.Process(target=_incr_inherited, args=(cache, 300)) for _ in range(3)]
    for p in procs:
        p.start()
    _incr_inherited(cache, 300)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert cache['counter'] == 1200


def test_memoize_across_processes(tmpdir_path):
    ctx = mp.get_context('fork')
    results = ctx.Queue()
    first = ctx.Process(target=_memoized_calls, args=(tmpdir_path, results))
    first.start()
    assert results.get(timeout=60) == [i * 2 for i in range(20)]
    first.join()
    second = ctx.Process(target=_memoized_calls, args=(tmpdir_path, results))
    second.start()
    assert results.get(timeout=60) == [i * 2 for i in range(20)]
    second.join()
    assert diskcache_swift.Cache(tmpdir_path)['calls'] == 20  # the second process computed nothing


def _writer(directory, start, count):
    cache = diskcache_swift.Cache(directory)
    for i in range(start, start + count):
        cache[i] = str(i)


def test_readers_see_writers(tmpdir_path):
    reader = diskcache_swift.Cache(tmpdir_path)
    assert reader.get(0) is None
    ctx = mp.get_context('spawn')
    procs = [ctx.Process(target=_writer, args=(tmpdir_path, k * 1000, 1000)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert len(reader) == 3000
    assert all(reader[i] == str(i) for i in range(0, 3000, 7))


def test_threads_share_a_cache(tmpdir_path):
    import threading

    cache = diskcache_swift.Cache(tmpdir_path)

    def work(number):
        for i in range(500):
            cache.incr('n')
            with cache.transact():
                cache[('t', number, i)] = i

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache['n'] == 2000
    assert len(cache) == 2001


def test_threads_with_large_values(tmpdir_path):
    """Large values are written and read with the GIL released: other threads run meanwhile
    and every value comes back whole."""
    import threading

    cache = diskcache_swift.Cache(tmpdir_path)
    errors = []

    def work(number):
        blob = bytes([number]) * 300_000
        for i in range(20):
            cache[(number, i % 3)] = blob
            if cache[(number, i % 3)] != blob:
                errors.append((number, i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.check() == []
