"""Edge cases of the Cache API, checked against python-diskcache 5.6.3 where it defines the
behaviour."""

import io
import os
import pickle
import threading

import diskcache
import pytest

import diskcache_swift
from diskcache_swift import Cache, FanoutCache, Timeout


@pytest.fixture(params=['ref', 'ours'])
def both(request, tmpdir_path):
    module = diskcache if request.param == 'ref' else diskcache_swift
    cache = module.Cache(tmpdir_path)
    yield cache
    cache.close()


@pytest.fixture
def cache(tmpdir_path):
    c = Cache(tmpdir_path)
    yield c
    c.close()


def test_module_surface_matches_reference():
    assert sorted(diskcache_swift.__all__) == sorted(diskcache.__all__)
    assert diskcache_swift.__version__ == diskcache.__version__
    assert diskcache_swift.DEFAULT_SETTINGS == diskcache.DEFAULT_SETTINGS
    assert set(diskcache_swift.EVICTION_POLICY) == set(diskcache.EVICTION_POLICY)
    assert repr(diskcache_swift.ENOVAL) == 'ENOVAL'
    import importlib

    for sub in ("core", "fanout", "persistent", "recipes"):
        importlib.import_module("diskcache_swift." + sub)

    for name in ('ENOVAL', 'UNKNOWN', 'args_to_key', 'full_name', 'open'):
        assert hasattr(diskcache_swift.core, name)


def test_key_equality_rules(both):
    both[1] = 'one'
    assert both[1.0] == 'one'
    both[True] = 'true'
    assert both[1] == 'one' and both[True] == 'true'
    both['a'] = 'text'
    assert b'a' not in both
    both[None] = None
    assert both[None] is None
    both[(1, 'x')] = [1]
    assert both[(1, 'x')] == [1]


def test_nul_unicode_and_empty(both):
    both['\x00é☃'] = b'\x00\x01'
    assert both['\x00é☃'] == b'\x00\x01'
    both[''] = ''
    assert both[''] == ''
    both[b''] = b''
    assert both[b''] == b''


def test_unpicklable_value_raises_and_stores_nothing(both):
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        both['lock'] = threading.Lock()
    assert 'lock' not in both
    assert len(both) == 0


def test_huge_key(both):
    key = 'k' * (1 << 20)
    both[key] = 1
    assert both[key] == 1


def test_large_values_and_read_handles(both):
    data = os.urandom(100_000)
    both.set('big', data)
    assert both.get('big') == data
    handle = both.get('big', read=True)
    assert hasattr(handle, 'read') and handle.read() == data
    handle.close()
    both.set('stream', io.BytesIO(data), read=True)
    with both.read('stream') as reader:
        assert reader.read() == data
    both.set('text', 'é' * 20000)  # 40000 bytes, but fewer characters than the threshold
    assert both['text'] == 'é' * 20000
    assert both.read('text') == 'é' * 20000
    with pytest.raises(KeyError):
        both.read('missing')


def test_incr_errors(both):
    with pytest.raises(KeyError):
        both.incr('missing', default=None)
    both['s'] = 'text'
    with pytest.raises(TypeError):
        both.incr('s')
    both['f'] = 1.5
    assert both.incr('f') == 2.5


def test_push_side_must_be_back_or_front(both):
    with pytest.raises(KeyError):
        both.push(1, side='middle')


def test_peekitem_empty(both):
    with pytest.raises(KeyError, match='dictionary is empty'):
        both.peekitem()


def test_disk_must_subclass_disk(tmpdir_path):
    with pytest.raises(ValueError, match='disk must subclass'):
        Cache(tmpdir_path, disk=object)


def test_path_that_is_a_file(tmpdir_path):
    path = os.path.join(tmpdir_path, 'file')
    open(path, 'w').close()
    with pytest.raises(OSError):
        Cache(path)


def test_settings_persist_and_attributes(tmpdir_path):
    c = Cache(tmpdir_path, size_limit=12345, custom_option='kept')
    assert c.size_limit == 12345 and c.custom_option == 'kept'
    c.close()
    again = Cache(tmpdir_path)
    assert again.size_limit == 12345 and again.custom_option == 'kept'
    assert again.reset('cull_limit', 3) == 3
    assert Cache(tmpdir_path).cull_limit == 3


def test_stats_enable_and_reset(cache):
    cache.stats(enable=True)
    cache['a'] = 1
    cache.get('a')
    cache.get('b')
    assert cache.stats() == (1, 1)
    assert cache.stats(reset=True) == (1, 1)
    assert cache.stats() == (0, 0)


def test_transact_rolls_back_on_exception(cache):
    cache['kept'] = 1
    with pytest.raises(RuntimeError):
        with cache.transact():
            cache['kept'] = 2
            cache['new'] = 3
            raise RuntimeError
    assert cache['kept'] == 1 and 'new' not in cache
    with cache.transact():
        with cache.transact():
            cache['nested'] = 1
    assert cache['nested'] == 1


def test_pickle_round_trip(cache):
    cache['a'] = 1
    clone = pickle.loads(pickle.dumps(cache))
    assert clone['a'] == 1 and clone.directory == cache.directory


def test_memoize(cache):
    calls = []

    @cache.memoize()
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert calls == [3]
    assert square.__cache_key__(3) in cache
    with pytest.raises(TypeError, match='name cannot be callable'):
        cache.memoize(lambda: 0)


def test_check_finds_and_fixes(cache):
    cache['big'] = b'x' * 100_000
    stray = os.path.join(cache.directory, 'ab', 'cd')
    os.makedirs(stray)
    open(os.path.join(stray, 'stray.val'), 'w').close()
    warnings = cache.check()
    assert any(w.category is diskcache_swift.UnknownFileWarning for w in warnings)
    cache.check(fix=True)
    assert cache.check() == []
    assert cache['big'] == b'x' * 100_000


def test_timeout_when_another_process_holds_the_lock(tmpdir_path):
    holder = Cache(tmpdir_path)
    waiter = Cache(tmpdir_path, timeout=0.05)
    with holder.transact():
        holder['x'] = 1
        with pytest.raises(Timeout):
            waiter.set('y', 2)
    waiter.set('y', 2)
    fan = FanoutCache(os.path.join(tmpdir_path, 'fan'), shards=2, timeout=0.01)
    shard = fan._shards[fan._hash('k') % 2]
    other = Cache(shard.directory, timeout=0.01)
    with other.transact():
        assert fan.set('k', 1) is False  # FanoutCache swallows Timeout
        assert fan.get('k', 'default') == 'default'


def test_json_disk(tmpdir_path):
    c = Cache(tmpdir_path, disk=diskcache_swift.JSONDisk, disk_compress_level=6)
    c['key'] = {'a': [1, 2]}
    assert c['key'] == {'a': [1, 2]}
    c[(1, 2)] = 'x' * 50_000
    assert c[(1, 2)] == 'x' * 50_000
    assert list(c) == ['key', [1, 2]]
    assert c.pop('key') == {'a': [1, 2]}


def test_fanout_attribute_rules(tmpdir_path):
    fan = FanoutCache(tmpdir_path, shards=4)
    assert fan.size_limit == 2**30 / 4
    with pytest.raises(AssertionError):
        fan.nonexistent  # noqa: B018
