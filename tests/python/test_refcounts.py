"""Reference counting of the extension: every hot method, 10,000 calls on each of its paths
(hit, miss, Timeout, KeyError, bad arguments, closed and uninitialised caches), leaves the
reference counts of the objects involved and the Python heap (tracemalloc) as they were."""

import gc
import io
import sys
import threading
import tracemalloc

import pytest

from diskcache_swift import Cache, Disk, Timeout

CALLS = 10_000
# Paths that create a value file each call (tens of milliseconds of I/O a call on a busy
# machine) make fewer calls; the tolerances below scale with the count.
FILE_CALLS = 1_000

# Small ints and these singletons are shared objects: a reference taken and never released
# shows in their counts whatever the path.
VALUE, TAG, DEFAULT_INT = 201, 203, 205
DEFAULT = object()
BAD_TAG = [1]
BAD_EXPIRE = 'soon'


class BadBool:
    def __bool__(self):
        raise ZeroDivisionError('no truth')


BAD_FLAG = BadBool()
WATCHED = (VALUE, TAG, DEFAULT_INT, DEFAULT, BAD_TAG, BAD_EXPIRE, BAD_FLAG, None, True, False, Timeout, KeyError)


def unpicklable():
    return lambda: None


def assert_flat(fn, *extra, calls=CALLS):
    watched = WATCHED + extra
    for _ in range(100):
        fn()
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    # The heap is measured twice and the smaller growth kept: a leak grows it every time,
    # while another thread of the test process (a fixture's, the interpreter's) may allocate
    # during one measurement.
    grown = min(heap_growth(fn, calls) for _ in range(2))
    after = [sys.getrefcount(o) for o in watched]
    # One reference kept per call would show as `calls` (twice over: both measurements);
    # unrelated interpreter activity moves a count by a few.
    changed = {repr(o): (b, a) for o, b, a in zip(watched, before, after) if abs(a - b) > calls // 100}
    assert not changed, changed
    # One object kept per call grows the heap by at least 16 bytes a call (an object header).
    assert grown < calls * 4, grown


def heap_growth(fn, calls):
    tracemalloc.start()
    try:
        heap0 = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - heap0
    finally:
        tracemalloc.stop()


def raising(exc, fn, *args, **kwargs):
    def call():
        try:
            fn(*args, **kwargs)
        except exc:
            return
        raise AssertionError('%s did not raise %s' % (fn, exc))

    return call


@pytest.fixture
def cache(tmpdir_path):
    c = Cache(tmpdir_path)
    c.set('int', VALUE, tag=TAG)
    c.set('bytes', b'b' * 100, tag='text tag')
    c.set('text', 't' * 100, tag=b'bytes tag')
    c.set('pickled', (VALUE, [TAG]), tag=1.5)
    c.set('file', b'f' * 100_000)
    c.set('number', 7)
    yield c
    c.close()


@pytest.fixture
def locked(tmpdir_path, cache):
    """A Cache on the same directory whose every write times out at once (another Cache
    holds the lock), least-recently-used so that reads write too."""
    holder = Cache(tmpdir_path)
    # Opened before the lock is taken: opening waits for it.
    c = Cache(tmpdir_path, timeout=0, eviction_policy='least-recently-used')
    held, done = threading.Event(), threading.Event()

    def hold():
        with holder.transact():
            held.set()
            done.wait()

    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    yield c
    done.set()
    t.join()
    c.close()
    holder.close()


READ_KEYS = ['int', 'bytes', 'text', 'pickled', 'file', 'missing']


@pytest.mark.parametrize('key', READ_KEYS)
def test_get(cache, key):
    assert_flat(lambda: cache.get(key))
    assert_flat(lambda: cache.get(key, DEFAULT_INT, expire_time=True, tag=True))
    assert_flat(lambda: cache.get(key, DEFAULT, tag=True))
    assert_flat(lambda: cache.get(key, read=True, expire_time=True))
    if key == 'missing':
        assert_flat(raising(KeyError, cache.__getitem__, key))
        assert_flat(raising(KeyError, cache.read, key))
    else:
        assert_flat(lambda: cache[key])
        assert_flat(lambda: key in cache)


def test_read_hit(cache):
    def read():
        with cache.read('file') as f:
            f.read(1)

    assert_flat(read)


def test_get_errors(cache):
    assert_flat(raising(ZeroDivisionError, cache.get, 'int', tag=BAD_FLAG))
    assert_flat(raising(ZeroDivisionError, cache.get, 'int', DEFAULT, BAD_FLAG))
    assert_flat(raising(TypeError, cache.get))
    assert_flat(raising(TypeError, cache.get, 'int', nonsense=1))
    assert_flat(raising(Exception, cache.get, unpicklable()))


def test_writes(cache):
    assert_flat(lambda: cache.set('w', VALUE, tag=TAG))
    assert_flat(lambda: cache.set('w', b'v' * 100, expire=60, tag='t'))
    assert_flat(lambda: cache.add('int', VALUE))
    assert_flat(lambda: cache.__setitem__('w', (VALUE, TAG)))
    assert_flat(lambda: cache.delete('missing'))
    assert_flat(lambda: (cache.set('d', VALUE), cache.delete('d')))
    assert_flat(lambda: (cache.set('d', VALUE), cache.__delitem__('d')))
    assert_flat(raising(KeyError, cache.__delitem__, 'missing'))
    assert_flat(lambda: cache.touch('int', 60))
    assert_flat(lambda: cache.touch('missing'))
    assert_flat(lambda: cache.incr('number'))
    assert_flat(lambda: cache.decr('number', 2**63 + 1, retry=True) and cache.incr('number', 2**63 + 1))
    assert_flat(lambda: cache.set('s', io.BytesIO(b's' * 1000), read=True), calls=FILE_CALLS)


def test_write_errors(cache):
    assert_flat(raising(TypeError, cache.set, 'w', VALUE, tag=BAD_TAG))
    assert_flat(raising(TypeError, cache.set, 'w', VALUE, expire=BAD_EXPIRE))
    assert_flat(raising(ZeroDivisionError, cache.set, 'w', VALUE, retry=BAD_FLAG))
    assert_flat(raising(Exception, cache.set, 'w', unpicklable()))
    assert_flat(raising(Exception, cache.set, unpicklable(), VALUE))
    assert_flat(raising(TypeError, cache.incr, 'bytes'))
    assert_flat(raising(TypeError, cache.incr, 'number', BAD_EXPIRE))
    assert_flat(raising(OverflowError, cache.incr, 'number', 2**65))
    assert_flat(raising(KeyError, cache.incr, 'missing', default=None))
    assert_flat(raising(OverflowError, cache.touch, 'int', 10**400))
    assert_flat(raising(ValueError, cache.set, float('nan'), VALUE))
    assert_flat(raising(TypeError, cache.set, 'w', io.StringIO('x'), read=True), calls=FILE_CALLS)


def test_pop(cache):
    assert_flat(lambda: (cache.set('p', (VALUE,), tag=TAG), cache.pop('p', expire_time=True, tag=True)))
    assert_flat(lambda: cache.pop('missing', DEFAULT, tag=True))
    assert_flat(lambda: cache.pop('missing', DEFAULT_INT))
    assert_flat(raising(ZeroDivisionError, cache.pop, 'int', tag=BAD_FLAG))


def test_queues(cache):
    assert_flat(lambda: (cache.push(VALUE, tag=TAG), cache.pull(expire_time=True, tag=True)))
    assert_flat(lambda: (cache.push((VALUE,), prefix='q', side='front'), cache.pull(prefix='q', side='back')))
    assert_flat(lambda: cache.pull(prefix='empty'))
    assert_flat(lambda: cache.pull(prefix='empty', default=DEFAULT, tag=True))
    cache.push(VALUE, prefix='stay', tag=TAG)
    assert_flat(lambda: cache.peek(prefix='stay', expire_time=True, tag=True))
    assert_flat(lambda: cache.peekitem(tag=True))
    assert_flat(raising(KeyError, cache.push, VALUE, side='middle'))
    assert_flat(raising(ZeroDivisionError, cache.push, VALUE, retry=BAD_FLAG))
    assert_flat(raising(ZeroDivisionError, cache.pull, tag=BAD_FLAG))


def test_peekitem_empty(tmpdir_path):
    c = Cache(tmpdir_path)
    assert_flat(raising(KeyError, c.peekitem))


def test_timeouts(locked):
    c = locked
    # Reads under least-recently-used record the access, which needs the lock.
    for key in ('int', 'bytes', 'pickled', 'file'):
        assert_flat(raising(Timeout, c.get, key, tag=True, expire_time=True))
        assert_flat(raising(Timeout, c.get, key, DEFAULT, read=True))
    assert_flat(raising(Timeout, c.set, 'w', VALUE, tag=TAG))
    assert_flat(raising(Timeout, c.set, 'w', io.BytesIO(b's' * 1000), read=True), calls=FILE_CALLS)
    assert_flat(raising(Timeout, c.add, 'w', VALUE))
    assert_flat(raising(Timeout, c.delete, 'int'))
    assert_flat(raising(Timeout, c.pop, 'int', tag=True))
    assert_flat(raising(Timeout, c.incr, 'number'))
    assert_flat(raising(Timeout, c.decr, 'number', -2**63))
    assert_flat(raising(Timeout, c.touch, 'int'))
    assert_flat(raising(Timeout, c.push, VALUE, tag=TAG))
    assert_flat(raising(Timeout, c.pull, tag=True))
    assert_flat(raising(Timeout, c.peek))
    assert_flat(raising(Timeout, c.peekitem))


class PlainDisk(Disk):
    pass


def test_custom_disk(tmpdir_path):
    c = Cache(tmpdir_path, disk=PlainDisk)
    c.set('int', VALUE, tag=TAG)
    c.set('file', b'f' * 100_000)
    assert_flat(lambda: c.get('int', tag=True))
    assert_flat(lambda: c.get('file'))
    assert_flat(lambda: c.set('w', (VALUE,), tag=TAG))
    assert_flat(lambda: (c.push(VALUE), c.pull()))
    assert_flat(lambda: (c.set('p', VALUE), c.pop('p')))


def test_closed_and_uninitialised(cache):
    def closed_get():
        cache.close()
        return cache.get('int', tag=True)

    assert_flat(closed_get)
    blank = Cache.__new__(Cache)
    assert_flat(raising(ValueError, blank.get, 'int'))
    assert_flat(raising(ValueError, blank.set, 'int', VALUE))
    assert_flat(raising(ValueError, blank.__getitem__, 'int'))


# ---- Batches and listing (issue 11, batches branch) -------------------------------------


def test_batches_and_listing(cache):
    keys = READ_KEYS + ['int']
    assert_flat(lambda: cache.get_many(keys))
    assert_flat(lambda: cache.get_many(keys, DEFAULT, expire_time=True, tag=True))
    assert_flat(lambda: cache.get_many(['file'], read=True)['file'].close(), calls=FILE_CALLS)
    assert_flat(lambda: cache.set_many([('w', VALUE), ('x', (VALUE, TAG))], tag=TAG))
    assert_flat(lambda: cache.set_many({'w': VALUE, 'x': b'v' * 100}, expire=60))
    assert_flat(lambda: cache.set_many([('f', b'f' * 100_000)], retry=True), calls=FILE_CALLS)
    assert_flat(lambda: (cache.set('d', VALUE), cache.delete_many(['d', 'missing', 'd'])))
    assert_flat(lambda: (cache.keys(), cache.items(), list(cache.iterinfo())), calls=FILE_CALLS)
    assert_flat(lambda: list(cache.iterkeys_by_tag(TAG)))


def test_batch_errors(cache):
    assert_flat(raising(TypeError, cache.get_many, VALUE))
    assert_flat(raising(TypeError, cache.get_many, [[VALUE]]))
    assert_flat(raising(TypeError, cache.delete_many, VALUE))
    assert_flat(raising(TypeError, cache.set_many, VALUE))
    assert_flat(raising(TypeError, cache.set_many, [('w', VALUE), VALUE]))
    assert_flat(raising(ValueError, cache.set_many, [('w', VALUE), (VALUE, TAG, TAG)]))
    assert_flat(raising(Exception, cache.set_many, [('w', VALUE), ('x', unpicklable())]))
    assert_flat(raising(TypeError, cache.set_many, [('w', VALUE)], tag=BAD_TAG))
    assert_flat(raising(TypeError, cache.set_many, [('w', VALUE)], expire=BAD_EXPIRE))
    assert_flat(raising(ZeroDivisionError, cache.get_many, keys=['int'], tag=BAD_FLAG))
    assert_flat(raising(TypeError, cache.iterkeys_by_tag, BAD_TAG))


def test_batches_timing_out(locked):
    assert_flat(raising(Timeout, locked.set_many, [('w', VALUE), ('x', TAG)]))
    assert_flat(raising(Timeout, locked.delete_many, ['int']))
    # Under least-recently-used a hit's access record needs the lock, as for get.
    assert_flat(raising(Timeout, locked.get_many, ['int', 'missing'], tag=True))
