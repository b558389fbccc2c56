"""keys/values/items/exists/vacuum, FanoutCache's queues and peekitem, Deque and Index as
context managers, and listing without reading values (iterinfo, iterkeys_by_tag), compared
with python-diskcache where it defines the answer."""

import os
import shutil
import tempfile
import time

import diskcache
import pytest

import diskcache_swift as dcs


@pytest.fixture
def pair():
    dirs = [tempfile.mkdtemp(prefix='dcs-ref-'), tempfile.mkdtemp(prefix='dcs-ours-')]
    # cull_limit 0: the expired item stays until removed (writes cull expired items).
    ref, ours = diskcache.Cache(dirs[0], cull_limit=0), dcs.Cache(dirs[1], cull_limit=0)
    yield ref, ours
    ref.close()
    ours.close()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def fill(cache):
    cache.set('a', 1, tag='red')
    cache.set(2, 'two', tag=7)
    cache.set(b'b', b'x' * 40000, tag='red', expire=1000)
    cache.set((1, 'tuple'), [1, 2], tag=b'blue')
    cache.set('text', 'y' * 40000)
    cache.set('gone', 0, tag='red', expire=-1)
    cache.set('a', 'a again', tag='red')


def test_keys_values_items_exists(pair):
    ref, ours = pair
    for cache in pair:
        fill(cache)
    live = [key for key in ref if key in ref]
    assert ours.keys() == live
    assert ours.values() == [ref[key] for key in live]
    assert ours.items() == [(key, ref[key]) for key in live]
    for key in ['a', 2, 2.0, b'b', 'gone', 'missing', (1, 'tuple')]:
        assert ours.exists(key) == (key in ref), key


def test_listing_counts_no_hit_and_records_no_access(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, statistics=1, eviction_policy='least-recently-used', max_entries=3)
    cache.set_many([('a', 1), ('b', 2), ('c', 3)])
    cache.values()
    cache.items()
    assert cache.stats() == (0, 0)
    cache.get('b')
    cache['d'] = 4
    assert cache.keys() == ['b', 'c', 'd'], 'a was least recently used: listing is not use'


def data_bytes(directory):
    """Bytes of everything but value files."""
    total = 0
    for root, _, files in os.walk(directory):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if not f.endswith('.val'))
    return total


def test_vacuum_compacts_now(tmpdir_path):
    cache = dcs.Cache(tmpdir_path)
    cache.set_many([('k%d' % i, b'v' * 200) for i in range(3000)])
    cache.delete_many(['k%d' % i for i in range(1, 3000)])
    before = data_bytes(tmpdir_path)
    cache.vacuum()
    assert data_bytes(tmpdir_path) < before - 3000 * 200
    assert cache.items() == [('k0', b'v' * 200)]
    assert cache.check() == []


@pytest.fixture
def fanout(tmpdir_path):
    cache = dcs.FanoutCache(tmpdir_path, shards=4, cull_limit=0)
    yield cache
    cache.close()


def test_fanout_keys_values_items_exists_vacuum(fanout):
    fill(fanout)
    live = [key for key in fanout if key in fanout]
    assert fanout.keys() == live, 'shard by shard, as iteration goes'
    assert fanout.values() == [fanout[key] for key in live]
    assert fanout.items() == [(key, fanout[key]) for key in live]
    assert fanout.exists('a') and not fanout.exists('gone') and not fanout.exists('missing')
    fanout.vacuum()
    assert fanout.keys() == live


def test_fanout_queues_behave_as_a_cache_queue(fanout, pair):
    ref, _ = pair
    calls = [
        ('push', (1,), {}), ('push', (2,), {'side': 'front'}), ('push', ('x',), {'prefix': 'q'}),
        ('push', ('y',), {'prefix': 'q', 'tag': 't', 'expire': 100}), ('push', (3,), {'prefix': 'p'}),
        ('peek', (), {}), ('peek', (), {'side': 'back'}), ('pull', (), {'prefix': 'q', 'side': 'back', 'tag': True}),
        ('pull', (), {'prefix': 'p'}), ('pull', (), {'prefix': 'p'}), ('pull', (), {}), ('pull', (), {}),
        ('pull', (), {}), ('pull', (), {'default': 'empty', 'expire_time': True}),
        ('peek', (), {'prefix': 'q', 'expire_time': True, 'tag': True}),
    ]
    for name, args, kwargs in calls:
        assert getattr(fanout, name)(*args, **kwargs) == getattr(ref, name)(*args, **kwargs), (name, args, kwargs)


def test_fanout_peekitem_follows_iteration_order(fanout):
    with pytest.raises(KeyError):
        fanout.peekitem()
    for i in range(20):
        fanout[i] = i * 10
    first, last = next(iter(fanout)), next(reversed(fanout))
    assert fanout.peekitem(last=False) == (first, first * 10)
    assert fanout.peekitem() == (last, last * 10)
    assert fanout.peekitem(expire_time=True, tag=True) == ((last, last * 10), None, None)


def open_fds_under(directory):
    fds = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink('/proc/self/fd/' + fd).startswith(directory):
                fds.append(fd)
        except OSError:
            pass
    return fds


@pytest.mark.parametrize('kind', ['deque', 'index'])
def test_deque_and_index_close_and_work_as_context_managers(tmpdir_path, kind):
    if kind == 'deque':
        with dcs.Deque([1, 2], directory=tmpdir_path) as container:
            container.append(3)
        expected = [1, 2, 3]
    else:
        with dcs.Index(tmpdir_path, {'a': 1}) as container:
            container['b'] = 2
        expected = ['a', 'b']
    assert open_fds_under(tmpdir_path) == [], 'leaving the block closed the files'
    assert list(container) == expected, 'and the next use reopens them'
    container.close()
    assert open_fds_under(tmpdir_path) == []


class FetchRaises(dcs.Disk):
    def fetch(self, mode, filename, value, read):
        raise AssertionError('a value was read')


def test_iterinfo_and_tags_read_no_value(tmpdir_path):
    t0 = time.time()
    cache = dcs.Cache(tmpdir_path, disk=FetchRaises, cull_limit=0)
    fill(cache)
    t1 = time.time()
    with pytest.raises(AssertionError):
        cache['a']
    # A value file deleted: still listed.
    for root, _, files in os.walk(tmpdir_path):
        for f in files:
            if f.endswith('.val'):
                os.remove(os.path.join(root, f))
    infos = list(cache.iterinfo())
    assert [i.key for i in infos] == list(cache)
    assert [i.tag for i in infos] == ['red', 7, 'red', b'blue', None, 'red']
    sizes = {i.key: i.size for i in infos}
    assert sizes == {'a': 7, 2: 3, b'b': 40000, (1, 'tuple'): sizes[(1, 'tuple')], 'text': 40000, 'gone': 8}
    assert all(t0 <= i.store_time <= t1 for i in infos)
    expires = {i.key: i.expire_time for i in infos}
    assert expires['a'] is None and t0 + 1000 <= expires[b'b'] <= t1 + 1000 and expires['gone'] < t1
    assert list(cache.iterinfo(reverse=True)) == infos[::-1]
    assert isinstance(infos[0], dcs.ItemInfo) and infos[0]._fields == ('key', 'expire_time', 'tag', 'store_time', 'size')
    assert list(cache.iterkeys_by_tag('red')) == ['a', b'b', 'gone']
    assert list(cache.iterkeys_by_tag(b'blue')) == [(1, 'tuple')]
    assert list(cache.iterkeys_by_tag(7.0)) == [2], 'tags compare as SQLite values'
    assert list(cache.iterkeys_by_tag(None)) == []


def test_iterkeys_by_tag_matches_python_diskcache_rows(pair):
    ref, ours = pair
    for cache in pair:
        fill(cache)
    for tag in ['red', 7, b'blue', 'none']:
        rows = ref._sql('SELECT key, raw FROM Cache WHERE tag = ? ORDER BY rowid', (tag,)).fetchall()
        assert list(ours.iterkeys_by_tag(tag)) == [ref._disk.get(key, raw) for key, raw in rows], tag


def test_iterkeys_by_tag_bad_tag_names_it(pair):
    _, ours = pair
    with pytest.raises(TypeError, match='tag'):
        ours.iterkeys_by_tag([1])


def test_fanout_iterinfo_and_tags(fanout):
    fill(fanout)
    assert [i.key for i in fanout.iterinfo()] == list(fanout)
    assert [i.key for i in fanout.iterinfo(reverse=True)] == list(reversed(fanout))
    assert sorted(map(repr, fanout.iterkeys_by_tag('red'))) == sorted(map(repr, ['a', b'b', 'gone']))
