"""Regressions of the CPython extension (issue 10): retries, custom Disks in queues, errors
that keep their cause, 64-bit incr/decr, references released on every path."""

import io
import math
import sys
import threading
import time

import diskcache
import pytest

import diskcache_swift
from diskcache_swift import Cache, Deque, Disk, JSONDisk, Timeout


@pytest.fixture(params=['ref', 'ours'])
def module(request):
    return diskcache if request.param == 'ref' else diskcache_swift


class PlainDisk(Disk):
    """A Disk subclass that changes nothing: the engine calls its Python methods."""


class RefPlainDisk(diskcache.Disk):
    pass


def hold_lock(directory, module, seconds):
    """Another Cache holds the cache's lock for `seconds` in a thread; returns the thread
    once the lock is held."""
    other = module.Cache(directory)
    held = threading.Event()

    def run():
        with other.transact():
            held.set()
            time.sleep(seconds)

    t = threading.Thread(target=run)
    t.start()
    held.wait()
    return t


# 1. rev-r1: a stream is read once; only the locking is retried.


@pytest.mark.parametrize('disk', ['native', 'custom'])
def test_stream_set_with_retry_stores_every_byte(module, tmpdir_path, disk):
    kwargs = {}
    if disk == 'custom':
        kwargs['disk'] = PlainDisk if module is diskcache_swift else RefPlainDisk
    cache = module.Cache(tmpdir_path, timeout=0.05, **kwargs)
    payload = bytes(range(256)) * 400
    t = hold_lock(tmpdir_path, module, 0.3)
    assert cache.set('k', io.BytesIO(payload), read=True, retry=True)
    t.join()
    assert cache.get('k') == payload


def test_stream_push_with_retry_stores_every_byte(tmpdir_path):
    cache = Cache(tmpdir_path, timeout=0.05)
    payload = b'y' * 100_000
    t = hold_lock(tmpdir_path, diskcache_swift, 0.3)
    key = cache.push(io.BytesIO(payload), read=True, retry=True)
    t.join()
    assert cache[key] == payload


def test_stream_set_without_retry_times_out_and_stores_nothing(tmpdir_path):
    cache = Cache(tmpdir_path, timeout=0.05)
    t = hold_lock(tmpdir_path, diskcache_swift, 0.3)
    with pytest.raises(Timeout):
        cache.set('k', io.BytesIO(b'z' * 100_000), read=True)
    t.join()
    assert 'k' not in cache
    assert not cache.check()


# 3. adv-r09: queues on a custom Disk.


def test_json_disk_queues(module, tmpdir_path):
    c = module.Cache(tmpdir_path, disk=module.JSONDisk)
    assert c.push({'job': 1}) == 500000000000000
    assert c.push({'job': 2}, prefix='p') == 'p-500000000000000'
    assert c.peek() == (500000000000000, {'job': 1})
    assert len(c) == 2
    assert c.pull() == (500000000000000, {'job': 1})
    assert c.pull(prefix='p', expire_time=True, tag=True) == (('p-500000000000000', {'job': 2}), None, None)
    assert len(c) == 0
    c.set('item', [1, 2])
    assert c.peekitem() == ('item', [1, 2])
    assert c.pop('item') == [1, 2]
    d = module.Deque.fromcache(c)
    d.append('x')
    d.appendleft('w')
    assert len(d) == 2
    assert d.popleft() == 'w' and d.pop() == 'x'
    assert len(c) == 0


class FailingFetchDisk(Disk):
    fail = False

    def fetch(self, mode, filename, value, read):
        if FailingFetchDisk.fail:
            raise RuntimeError('fetch failed')
        return super().fetch(mode, filename, value, read)


def test_pull_that_raises_removes_nothing(tmpdir_path):
    c = Cache(tmpdir_path, disk=FailingFetchDisk)
    c.push('a')
    c.push(b'b' * 100_000)
    FailingFetchDisk.fail = True
    try:
        for _ in range(2):
            with pytest.raises(RuntimeError):
                c.pull()
            with pytest.raises(RuntimeError):
                c.pull(side='back')
            with pytest.raises(RuntimeError):
                c.pop(500000000000000)
    finally:
        FailingFetchDisk.fail = False
    assert len(c) == 2
    assert c.pull() == (500000000000000, 'a')
    assert c.pull() == (500000000000001, b'b' * 100_000)


def test_pull_of_unpicklable_value_removes_nothing(tmpdir_path):
    c = Cache(tmpdir_path)
    c.push(b'\x80\x04\x95garbage')  # stored as bytes; now make a pickle that cannot load
    c.clear()
    c.push(Unloadable())
    Unloadable.loadable = False
    try:
        with pytest.raises(RuntimeError):
            c.pull()
    finally:
        Unloadable.loadable = True
    assert len(c) == 1
    (_, value) = c.pull()
    assert isinstance(value, Unloadable)


class Unloadable:
    loadable = True

    def __reduce__(self):
        return (_make_unloadable, ())


def _make_unloadable():
    if not Unloadable.loadable:
        raise RuntimeError('cannot load')
    return Unloadable()


# 4. adv-r02 / adv-r16: errors keep their cause; python-diskcache's results elsewhere.


class RaisingReader:
    def __init__(self, exc):
        self.exc = exc

    def read(self, n):
        raise self.exc


@pytest.mark.parametrize('exc', [ZeroDivisionError('boom'), KeyboardInterrupt()])
def test_stream_read_exception_reaches_the_caller(module, tmpdir_path, exc):
    c = module.Cache(tmpdir_path)
    c.set('k', 'old')
    with pytest.raises(type(exc)) as info:
        c.set('k', RaisingReader(exc), read=True)
    assert info.value is exc
    assert c.get('k') == 'old'
    with pytest.raises(type(exc)):
        c.push(RaisingReader(exc), read=True)
    assert len(c) == 1


def test_stream_of_text_is_a_type_error(module, tmpdir_path):
    c = module.Cache(tmpdir_path)
    with pytest.raises(TypeError):
        c.set('k', io.StringIO('text'), read=True)
    assert 'k' not in c


def test_huge_expire_is_an_overflow_error(module, tmpdir_path):
    c = module.Cache(tmpdir_path)
    with pytest.raises(OverflowError):
        c.set('e', 1, expire=10**400)
    with pytest.raises(OverflowError):
        c.touch('e', expire=10**400)
    assert 'e' not in c


def test_expire_of_wrong_type_names_the_argument(tmpdir_path):
    c = Cache(tmpdir_path)
    with pytest.raises(TypeError, match='expire'):
        c.set('e', 1, expire='soon')
    assert 'e' not in c


@pytest.mark.parametrize('tag', [bytearray(b'x'), memoryview(b'x')])
def test_bytes_like_tags_are_stored_as_bytes(module, tmpdir_path, tag):
    c = module.Cache(tmpdir_path)
    assert c.set('k', 1, tag=tag)
    assert c.get('k', tag=True) == (1, b'x')
    assert c.evict(b'x') == 1


def test_nan_key_is_never_read_back(module, tmpdir_path):
    c = module.Cache(tmpdir_path)
    nan = float('nan')
    try:
        c.set(nan, 1)
    except ValueError as e:
        assert 'key' in str(e)
    assert c.get(nan) is None
    assert nan not in c
    assert c.delete(nan) is False
    assert c.pop(nan) is None
    with pytest.raises(KeyError):
        c[nan]


def test_nan_tag_is_no_tag(module, tmpdir_path):
    c = module.Cache(tmpdir_path)
    assert c.set('t', 1, tag=float('nan'))
    assert c.get('t', tag=True) == (1, None)
    assert c.evict(float('nan')) == 0
    assert 't' in c


class BadStoreDisk(Disk):
    def store(self, value, read, key=diskcache_swift.core.UNKNOWN):
        return self.result


@pytest.mark.parametrize('result', [(0, 4, None, 'not bytes'), (0, 1, None), 'nonsense', (0, 'x', None, b'v')])
def test_bad_disk_store_result_is_a_clear_type_error(tmpdir_path, result):
    c = Cache(tmpdir_path, disk=BadStoreDisk)
    c.disk.result = result
    with pytest.raises(TypeError, match='Disk.store'):
        c.set('a', 1)
    assert 'a' not in c


# 5. adv-r01: incr/decr are exact over the 64-bit range and never wrap.


def test_decr_by_min_int64(module, tmpdir_path):
    c = module.Cache(tmpdir_path)
    c.set('n', 0)
    with pytest.raises(OverflowError):
        c.decr('n', -2**63)
    assert c.get('n') == 0
    c.set('m', 5)
    assert c.incr('m', -2**63 + 10) == -2**63 + 15
    assert c.decr('m', -2**63) == 15
    assert c.get('m') == 15


def test_incr_across_the_64_bit_range(module, tmpdir_path):
    c = module.Cache(tmpdir_path)
    c.set('lo', -2**63)
    assert c.incr('lo', 2**64 - 1) == 2**63 - 1
    assert c.decr('lo', 2**64 - 1) == -2**63
    assert c.incr('absent', 2**63, default=-1) == 2**63 - 1
    c.set('hi', 2**63 - 1)
    with pytest.raises(OverflowError):
        c.incr('hi')
    assert c.get('hi') == 2**63 - 1
    with pytest.raises(OverflowError):
        c.incr('hi', 2**64, retry=True)
    assert c.get('hi') == 2**63 - 1


def test_incr_overflow_message_names_the_operation(tmpdir_path):
    c = Cache(tmpdir_path)
    c.set('n', 0)
    with pytest.raises(OverflowError, match='decr'):
        c.decr('n', -2**63)
    with pytest.raises(OverflowError, match='incr'):
        c.incr('n', 2**65)


# 2. rev-r2: a Timeout after the read leaks nothing.


def test_lru_get_that_times_out_leaks_nothing(tmpdir_path):
    # Small ints are shared objects: a leaked reference to the value or tag shows in their
    # reference counts.
    a = Cache(tmpdir_path, eviction_policy='least-recently-used')
    a.set('k', 201, tag=203)
    b = Cache(tmpdir_path, timeout=0.001)
    done = threading.Event()
    held = threading.Event()

    def hold():
        with a.transact():
            held.set()
            done.wait()

    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    try:
        before = sys.getrefcount(201), sys.getrefcount(203)
        timeouts = 0
        for _ in range(200):
            try:
                b.get('k', tag=True)
            except Timeout:
                timeouts += 1
        after = sys.getrefcount(201), sys.getrefcount(203)
    finally:
        done.set()
        t.join()
    assert timeouts == 200
    assert after == before
