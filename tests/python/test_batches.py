"""Batches (get_many, set_many, delete_many) against python-diskcache's equivalent loops:
same resulting contents, same exception types for bad input (messages naming the argument),
and all-or-nothing set_many."""

import io
import os
import shutil
import tempfile
import threading

import diskcache
import pytest

import diskcache_swift as dcs


@pytest.fixture
def pair():
    dirs = [tempfile.mkdtemp(prefix='dcs-ref-'), tempfile.mkdtemp(prefix='dcs-ours-')]
    ref, ours = diskcache.Cache(dirs[0]), dcs.Cache(dirs[1])
    yield ref, ours
    ref.close()
    ours.close()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fanout_pair():
    dirs = [tempfile.mkdtemp(prefix='dcs-ref-'), tempfile.mkdtemp(prefix='dcs-ours-')]
    ref, ours = diskcache.FanoutCache(dirs[0], shards=4), dcs.FanoutCache(dirs[1], shards=4)
    yield ref, ours
    ref.close()
    ours.close()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def contents(cache):
    """Every item in iteration order with expire time (set or not) and tag."""
    out = []
    for key in cache:
        value, expire, tag = cache.get(key, expire_time=True, tag=True)
        out.append((key, value, expire is not None, tag))
    return out


ITEMS = [
    ('a', 1),
    (2, 'two'),
    (2.5, b'bytes'),
    (b'k', [1, 2]),
    ((1, 'tuple'), {'x': None}),
    ('big-bytes', b'x' * 40000),
    ('big-text', 'y' * 40000),
    ('big-pickle', [0] * 20000),
    ('a', 'a again'),  # the last value wins
    (3, None),
]


@pytest.mark.parametrize('shape', [list, dict, iter])
def test_set_many_stores_what_a_loop_of_set_stores(pair, shape):
    ref, ours = pair
    for key, value in ITEMS:
        ref.set(key, value, expire=100, tag='t')
    items = shape(ITEMS)
    assert ours.set_many(items, expire=100, tag='t') == (len(dict(ITEMS)) if shape is dict else len(ITEMS))
    assert contents(ours) == contents(ref)


def test_set_many_read_stores_files(pair):
    ref, ours = pair
    ref.set('f', io.BytesIO(b'z' * 50000), read=True)
    assert ours.set_many([('f', io.BytesIO(b'z' * 50000))], read=True, retry=True) == 1
    assert contents(ours) == contents(ref)
    with ours.read('f') as handle:
        assert handle.read() == b'z' * 50000


def test_get_many_is_a_dict_of_what_get_returns(pair):
    ref, ours = pair
    for cache in pair:
        for key, value in ITEMS:
            cache.set(key, value, tag='t')
        cache.set('gone', 1, expire=-1)
    keys = ['a', 2, 2.0, b'k', (1, 'tuple'), 'big-text', 'missing', 'gone', 'big-pickle']
    for flags in [{}, {'expire_time': True}, {'tag': True}, {'expire_time': True, 'tag': True}]:
        expected = {k: ref.get(k, **flags) for k in keys if k in ref}
        assert ours.get_many(keys, **flags) == expected, flags
        assert list(ours.get_many(keys, **flags)) == list(expected)
    expected = {k: ref.get(k, default=0) for k in keys}
    assert ours.get_many(keys, default=0) == expected, 'a default other than None fills missing keys'
    with ours.get_many(['big-bytes'], read=True)['big-bytes'] as handle:
        assert handle.read() == b'x' * 40000


def test_delete_many_counts_like_a_loop_of_delete(pair):
    ref, ours = pair
    for cache in pair:
        for key, value in ITEMS:
            cache.set(key, value)
        cache.set('gone', 1, expire=-1)
    keys = ['a', 'a', 2.0, 'big-bytes', 'missing', 'gone']
    expected = sum(ref.delete(k) for k in keys)
    assert ours.delete_many(keys) == expected
    assert contents(ours) == contents(ref)
    assert ours.check() == []


class Unpicklable:
    def __reduce__(self):
        raise TypeError('cannot pickle Unpicklable')


def outcome(call):
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the type is what is compared
        return type(error), str(error)
    return None


def ref_set_loop(cache, items, **kwargs):
    for key, value in items:
        cache.set(key, value, **kwargs)


@pytest.mark.parametrize(
    'items, kwargs, argument',
    [
        (5, {}, 'items'),
        ([('a', 1), 7], {}, 'items'),
        ([('a', 1), ('b', 2, 3)], {}, 'items'),
        ([('a', 1), ('b',)], {}, 'items'),
        ([('a', 1), ('b', Unpicklable())], {}, None),
        ([('a', 1), (Unpicklable(), 2)], {}, None),
        ([('a', b'x' * 40000), ('b', Unpicklable())], {}, None),
        ([('a', 1)], {'expire': 'soon'}, 'expire'),
    ],
)
def test_set_many_bad_input_raises_like_the_loop_and_stores_nothing(pair, items, kwargs, argument):
    ref, ours = pair
    expected = outcome(lambda: ref_set_loop(ref, items, **kwargs))
    actual = outcome(lambda: ours.set_many(items, **kwargs))
    assert expected is not None and actual is not None
    assert actual[0] is expected[0], (actual, expected)
    if argument:
        assert argument in actual[1]
    assert len(ours) == 0, 'a failing item stores none of the batch'
    assert ours.check() == [], 'and leaves no value file behind'


@pytest.mark.parametrize('method', ['get_many', 'delete_many'])
def test_keys_argument_must_be_iterable(pair, method):
    ref, ours = pair
    expected = outcome(lambda: [ref.get(k) for k in 5])
    actual = outcome(lambda: getattr(ours, method)(5))
    assert actual[0] is expected[0] is TypeError
    assert 'keys' in actual[1]


def test_get_many_unhashable_key_names_keys(pair):
    _, ours = pair
    ours.set([1], 'list key')
    error = outcome(lambda: ours.get_many([[1]]))
    assert error[0] is TypeError and 'keys' in error[1]


def test_bad_tag_stores_nothing(pair):
    _, ours = pair
    with pytest.raises(TypeError, match='tag'):
        ours.set_many([('a', b'x' * 40000)], tag=[1])
    assert len(ours) == 0 and ours.check() == []


def test_set_many_is_one_commit(tmpdir_path):
    """Another process's view never holds part of a batch: a reader polling while the batch
    is stored sees 0 or all of it."""
    cache = dcs.Cache(tmpdir_path)
    seen = set()
    stop = threading.Event()

    def poll():
        other = dcs.Cache(tmpdir_path)
        while not stop.is_set():
            seen.add(len(other))
        other.close()

    thread = threading.Thread(target=poll)
    thread.start()
    for n in range(20):
        cache.set_many([('k%d-%d' % (n, i), i) for i in range(500)])
        cache.clear()
    stop.set()
    thread.join()
    assert seen <= {0, 500}, seen


def test_custom_disk_set_many(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, disk=dcs.JSONDisk)
    assert cache.set_many({'a': [1, 2], 'b': {'c': 'd'}}) == 2
    assert cache.get_many(['a', 'b', 'c']) == {'a': [1, 2], 'b': {'c': 'd'}}
    assert cache.delete_many(['a', 'c']) == 1
    assert list(cache) == ['b']


def test_fanout_batches_match_loops(fanout_pair):
    ref, ours = fanout_pair
    items = [('k%d' % i, i) for i in range(50)] + ITEMS
    ref_set_loop(ref, items, tag='t')
    assert ours.set_many(items, tag='t') == len(items)
    assert sorted(map(repr, contents(ours))) == sorted(map(repr, contents(ref)))
    keys = ['k%d' % i for i in range(0, 60, 3)] + ['a', 2]
    expected = {k: ref.get(k, tag=True) for k in keys if k in ref}
    got = ours.get_many(keys, tag=True)
    assert got == expected and list(got) == list(expected)
    assert ours.delete_many(keys) == sum(ref.delete(k) for k in keys)
    assert sorted(map(repr, contents(ours))) == sorted(map(repr, contents(ref)))


def test_fanout_set_many_all_or_nothing_across_shards(tmpdir_path):
    cache = dcs.FanoutCache(tmpdir_path, shards=4)
    items = [('k%d' % i, i) for i in range(40)] + [('bad', Unpicklable())] + [('z%d' % i, b'x' * 40000) for i in range(4)]
    with pytest.raises(TypeError):
        cache.set_many(items)
    assert len(cache) == 0
    assert cache.check() == []
    with pytest.raises(TypeError, match='items'):
        cache.set_many(5)
    assert cache.set_many(items[:40]) == 40 and len(cache) == 40


class FailingDisk(dcs.Disk):
    """Writes every value to a file; raises for the value 'boom'."""

    removed = []

    def store(self, value, read, key=dcs.UNKNOWN):
        if value == 'boom':
            raise ValueError('boom')
        return super().store(value, read, key=key)

    def remove(self, file_path):
        FailingDisk.removed.append(file_path)
        super().remove(file_path)


class RefFailingDisk(diskcache.Disk):
    def store(self, value, read, key=diskcache.UNKNOWN):
        if value == 'boom':
            raise ValueError('boom')
        return super().store(value, read, key=key)


def test_failing_custom_disk_item_removes_the_batch_files(tmpdir_path):
    ref = diskcache.Cache(os.path.join(tmpdir_path, 'ref'), disk=RefFailingDisk, disk_min_file_size=0)
    tmpdir_path = os.path.join(tmpdir_path, 'ours')
    FailingDisk.removed.clear()
    cache = dcs.Cache(tmpdir_path, disk=FailingDisk, disk_min_file_size=0)
    items = [('a', b'x' * 10), ('b', 'text'), ('c', 'boom')]
    expected = outcome(lambda: ref_set_loop(ref, items))
    actual = outcome(lambda: cache.set_many(items))
    assert actual[0] is expected[0] is ValueError
    assert len(cache) == 0 and cache.check() == []
    assert len(FailingDisk.removed) == 2, 'the files written for the first items went through Disk.remove'


def test_timeout_stores_nothing(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, timeout=0.05)
    other = dcs.Cache(tmpdir_path)
    items = [('k%d' % i, b'x' * 40000) for i in range(3)] + [('small', 1)]
    with other.transact():
        with pytest.raises(dcs.Timeout):
            cache.set_many(items)
        with pytest.raises(dcs.Timeout):
            cache.delete_many(['small'])
    assert len(cache) == 0 and cache.check() == []
    fanout = dcs.FanoutCache(os.path.join(tmpdir_path, 'fan'), shards=2, timeout=0.05)
    shard = dcs.Cache(os.path.join(tmpdir_path, 'fan', '001'))
    with shard.transact():
        assert fanout.set_many(items + [('k%d' % i, i) for i in range(10)]) == 0
    assert len(fanout) == 0 and fanout.check() == []
    assert fanout.set_many(items, retry=True) == 4


@pytest.mark.parametrize(
    'call',
    [
        lambda c: c.get_many(5),
        lambda c: c.delete_many(5),
        lambda c: c.set_many(5),
        lambda c: c.set_many([('a', 1), ('b', 2, 3)]),
        lambda c: c.set_many([('k%d' % i, i) for i in range(20)], expire='soon'),
        lambda c: c.set_many([('k%d' % i, i) for i in range(20)] + [('bad', Unpicklable())]),
    ],
)
def test_fanout_bad_input_has_no_effect(tmpdir_path, call):
    cache = dcs.FanoutCache(tmpdir_path, shards=4)
    cache.set('keep', 1)
    with pytest.raises((TypeError, ValueError)) as info:
        call(cache)
    assert any(name in str(info.value) for name in ('keys', 'items', 'expire', 'pickle'))
    assert list(cache) == ['keep'] and cache.check() == []
