"""The max_entries setting: a bound on the number of items, culled as size_limit is (policy
order, cull_limit per write), persisted with the other settings."""

import os

import pytest

import diskcache_swift as dcs


def test_bound_in_store_order_and_persisted(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, max_entries=5)
    assert cache.max_entries == 5
    for i in range(8):
        cache[i] = i
    assert list(cache) == [3, 4, 5, 6, 7]
    cache.set_many([('a', 1), ('b', 2)])
    assert list(cache) == [5, 6, 7, 'a', 'b']
    cache.close()
    reopened = dcs.Cache(tmpdir_path)
    assert reopened.max_entries == 5
    assert reopened.reset('max_entries') == 5


def test_least_recently_used_order(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, max_entries=3, eviction_policy='least-recently-used')
    for key in 'abc':
        cache[key] = key
    cache['a']
    cache['d'] = 'd'
    assert sorted(cache) == ['a', 'c', 'd']


def test_policy_none_never_culls(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, max_entries=2, eviction_policy='none')
    for i in range(5):
        cache[i] = i
    assert len(cache) == 5
    assert cache.cull() == 0


def test_cull_limit_and_cull(tmpdir_path):
    cache = dcs.Cache(tmpdir_path, max_entries=4, cull_limit=0)
    for i in range(10):
        cache[i] = i
    assert len(cache) == 10, 'cull_limit 0: no culling on write'
    assert cache.cull() == 6
    assert list(cache) == [6, 7, 8, 9]
    cache.reset('cull_limit', 2)
    cache.reset('max_entries', 1)
    cache['x'] = 0
    assert len(cache) == 3, 'at most cull_limit items per write'


def test_reset_and_unbounded(tmpdir_path):
    cache = dcs.Cache(tmpdir_path)
    assert cache.max_entries is None and cache.reset('max_entries') is None
    assert cache.reset('max_entries', 2) == 2 and cache.max_entries == 2
    for i in range(4):
        cache[i] = i
    assert len(cache) == 2
    assert cache.reset('max_entries', None) is None and cache.max_entries is None
    for i in range(4):
        cache[i] = i
    assert len(cache) == 4
    assert dcs.Cache(tmpdir_path).max_entries is None
    assert cache.reset('max_entries', 0) is None


@pytest.mark.parametrize('value, error', [('10', TypeError), (2.5, TypeError), (True, TypeError), (-1, ValueError)])
def test_bad_values_name_the_setting_and_change_nothing(tmpdir_path, value, error):
    directory = os.path.join(tmpdir_path, 'new')
    with pytest.raises(error, match='max_entries'):
        dcs.Cache(directory, max_entries=value)
    assert not os.path.exists(directory), 'nothing was created'
    cache = dcs.Cache(tmpdir_path, max_entries=3)
    with pytest.raises(error, match='max_entries'):
        cache.reset('max_entries', value)
    assert cache.max_entries == 3 and dcs.Cache(tmpdir_path).max_entries == 3
    with pytest.raises(error, match='max_entries'):
        dcs.FanoutCache(os.path.join(tmpdir_path, 'fan'), max_entries=value)


def test_fanout_splits_the_bound(tmpdir_path):
    cache = dcs.FanoutCache(tmpdir_path, shards=4, max_entries=40)
    assert cache.max_entries == 10, 'per shard, as size_limit is split'
    cache.set_many([(i, i) for i in range(400)])
    assert all(len(shard) <= 10 for shard in cache._shards)
    assert dcs.FanoutCache(tmpdir_path, shards=4, max_entries=2).max_entries == 1
