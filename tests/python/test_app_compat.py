"""What real applications lean on beyond python-diskcache's documented API (issue 11): the
pickled state of a Cache subclass, which methods python-diskcache's dunders call (so a
subclass's overrides see them), and a custom Disk's remove. Each is compared with
python-diskcache 5.6.3 (the reference)."""

import os
import pickle
import shutil
import tempfile
import time

import diskcache
import pytest

import diskcache_swift

MODULES = [pytest.param(diskcache, id='ref'), pytest.param(diskcache_swift, id='ours')]


@pytest.fixture
def directory():
    path = tempfile.mkdtemp(prefix='dcs-compat-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- pickling (app-r3) -------------------------------------------------------------------


def typed_cache_class(mod):
    """dvc-data's HashesCache pattern: extra constructor argument appended to the state."""

    class TypedCache(mod.Cache):
        def __init__(self, directory=None, timeout=60, disk=mod.Disk, type=None, **settings):
            super().__init__(directory=directory, timeout=timeout, disk=disk, **settings)
            self._type = type

        def __getstate__(self):
            return (*super().__getstate__(), self._type)

    return TypedCache


# Pickled classes must be found by name.
RefTypedCache = typed_cache_class(diskcache)
RefTypedCache.__qualname__ = 'RefTypedCache'
OurTypedCache = typed_cache_class(diskcache_swift)
OurTypedCache.__qualname__ = 'OurTypedCache'
TYPED_CACHES = {diskcache: RefTypedCache, diskcache_swift: OurTypedCache}


@pytest.mark.parametrize('mod', MODULES)
def test_getstate_is_directory_timeout_disk_type(mod, directory):
    cache = mod.Cache(directory, timeout=7, disk=mod.JSONDisk)
    assert cache.__getstate__() == (directory, 7, mod.JSONDisk)
    cache.close()


@pytest.mark.parametrize('mod', MODULES)
def test_subclass_extending_the_state_unpickles(mod, directory):
    cache = TYPED_CACHES[mod](directory, type='links')
    cache['k'] = 1
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._type == 'links'
    assert clone['k'] == 1 and clone.directory == directory and clone.timeout == 60
    clone.close()
    cache.close()


def test_pickled_network_mode_follows_the_directory(directory):
    cache = diskcache_swift.Cache(directory, network=True)
    cache['k'] = 1
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.network is True and clone['k'] == 1
    clone.close()
    cache.close()


def test_pickle_keeps_the_open_options(directory):
    """read_only, a forced mode and a non-default lease travel beside python-diskcache's state
    (which stays the 3-tuple) and come back; default options pickle as before."""
    writer = diskcache_swift.Cache(directory)
    writer['k'] = 1
    plain = pickle.dumps(writer)
    assert pickle.loads(plain).read_only is False
    assert b'_rebuild' not in plain  # python-diskcache's shape: nothing beside the state
    reader = diskcache_swift.Cache(directory, read_only=True)
    assert reader.__getstate__() == (directory, 60, diskcache_swift.Disk)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read_only is True and clone['k'] == 1
    with pytest.raises(diskcache_swift.ReadOnlyError):
        clone['other'] = 2
    assert 'other' not in writer
    network = diskcache_swift.Cache(os.path.join(directory, 'n'), network=True, network_lease=5)
    assert pickle.loads(pickle.dumps(network))._open_options == {'network': True, 'network_lease': 5.0}
    for c in (writer, reader, clone, network):
        c.close()


def test_pickle_keeps_read_only_for_subclass_fanout_deque_and_index(directory):
    typed = OurTypedCache(os.path.join(directory, 'c'), type='links')
    typed['k'] = 1
    typed_reader = pickle.loads(pickle.dumps(OurTypedCache(typed.directory, type='x', read_only=True)))
    assert typed_reader._type == 'x' and typed_reader.read_only and typed_reader['k'] == 1
    fanout = diskcache_swift.FanoutCache(os.path.join(directory, 'f'), shards=2)
    fanout['k'] = 1
    fanout_reader = pickle.loads(pickle.dumps(diskcache_swift.FanoutCache(fanout.directory, shards=2, read_only=True)))
    assert fanout_reader['k'] == 1
    with pytest.raises(diskcache_swift.ReadOnlyError):
        fanout_reader['k'] = 2
    deque = diskcache_swift.Deque([1, 2], directory=os.path.join(directory, 'd'))
    deque_reader = pickle.loads(pickle.dumps(diskcache_swift.Deque(directory=deque.directory, read_only=True)))
    assert list(deque_reader) == [1, 2]
    with pytest.raises(diskcache_swift.ReadOnlyError):
        deque_reader.append(3)
    from_cache = diskcache_swift.Deque.fromcache(diskcache_swift.Cache(deque.directory, read_only=True))
    assert pickle.loads(pickle.dumps(from_cache)).cache.read_only
    assert pickle.loads(pickle.dumps(deque)).cache.read_only is False
    assert list(deque) == [1, 2]
    index = diskcache_swift.Index(os.path.join(directory, 'i'), {'a': 1})
    index_reader = pickle.loads(pickle.dumps(diskcache_swift.Index.fromcache(diskcache_swift.Cache(index.directory, read_only=True))))
    assert dict(index_reader) == {'a': 1} and index_reader.cache.read_only
    with pytest.raises(diskcache_swift.ReadOnlyError):
        index_reader['b'] = 2
    assert pickle.loads(pickle.dumps(index)).cache.read_only is False


@pytest.mark.parametrize('mod', MODULES)
def test_fanout_deque_index_round_trip(mod, directory):
    fanout = mod.FanoutCache(os.path.join(directory, 'f'), shards=3, timeout=0.5)
    fanout['k'] = 1
    fanout_clone = pickle.loads(pickle.dumps(fanout))
    assert fanout_clone['k'] == 1 and fanout_clone.timeout == 0.5
    deque = mod.Deque([1, 2], directory=os.path.join(directory, 'd'), maxlen=5)
    deque_clone = pickle.loads(pickle.dumps(deque))
    assert list(deque_clone) == [1, 2] and deque_clone.maxlen == 5
    index = mod.Index(os.path.join(directory, 'i'), {'a': 1})
    index_clone = pickle.loads(pickle.dumps(index))
    assert dict(index_clone) == {'a': 1}
    for c in (fanout, fanout_clone):
        c.close()


# -- dunders dispatch to overridden methods (app-r4) ----------------------------------------


def namespaced_class(mod):
    class Namespaced(mod.Cache):
        prefix = 'tenant1:'

        def set(self, key, value, *args, **kwargs):
            return super().set(self.prefix + key, value, *args, **kwargs)

        def get(self, key, default=None, *args, **kwargs):
            return super().get(self.prefix + key, default, *args, **kwargs)

        def __delitem__(self, key, retry=True):
            return super().__delitem__(self.prefix + key, retry)

    return Namespaced


def namespaced_run(mod, directory):
    cache = namespaced_class(mod)(directory)
    cache['a'] = 1
    stored = sorted(mod.Cache.__iter__(cache))
    got = (cache.get('a'), cache['a'], 'a' in cache, 'tenant1:a' in cache)
    cache.set('f', b'x' * 50_000)
    with cache.read('f') as handle:
        read = len(handle.read())
    deleted = (cache.delete('a'), cache.delete('a'))
    try:
        del cache['f']
        del cache['f']
    except KeyError:
        deleted += ('KeyError',)
    result = (stored, got, read, deleted, sorted(mod.Cache.__iter__(cache)))
    cache.close()
    return result


def test_namespacing_subclass_sees_item_access(directory):
    expected = namespaced_run(diskcache, os.path.join(directory, 'ref'))
    assert expected[0] == ['tenant1:a']
    assert namespaced_run(diskcache_swift, os.path.join(directory, 'ours')) == expected


def recording_class(mod):
    class Recording(mod.Cache):
        def __init__(self, *args, **kwargs):
            self.calls = []
            super().__init__(*args, **kwargs)

        def get(self, key, *args, **kwargs):
            self.calls.append(('get', key, kwargs.get('read', False)))
            return super().get(key, *args, **kwargs)

        def set(self, key, value, *args, **kwargs):
            self.calls.append(('set', key))
            return super().set(key, value, *args, **kwargs)

        def __delitem__(self, key, retry=True):
            self.calls.append(('__delitem__', key, retry))
            return super().__delitem__(key, retry)

        def incr(self, key, delta=1, default=0, retry=False):
            self.calls.append(('incr', key, delta))
            return super().incr(key, delta, default, retry)

    return Recording


def recording_run(mod, directory):
    cache = recording_class(mod)(directory)
    results = []
    cache['a'] = 1
    results.append(cache['a'])
    with pytest.raises(KeyError):
        cache['missing']
    cache.set('b', b'bytes')
    results.append(cache.read('b'))
    with pytest.raises(KeyError):
        cache.read('missing')
    results.append(cache.delete('a'))
    results.append(cache.delete('a', retry=True))
    del cache['b']
    results.append(cache.decr('n', 2))
    results.append(cache.incr('n'))
    results.append(cache.add('c', 1))
    results.append(cache.pop('c'))
    cache.close()
    return results, cache.calls


def test_overridden_methods_see_the_calls_python_diskcache_makes(directory):
    expected = recording_run(diskcache, os.path.join(directory, 'ref'))
    assert ('set', 'a') in expected[1] and ('get', 'a', False) in expected[1]
    assert recording_run(diskcache_swift, os.path.join(directory, 'ours')) == expected


def test_subclass_overriding_a_caller_keeps_its_own(directory):
    class OwnGetItem(diskcache_swift.Cache):
        def get(self, key, *args, **kwargs):
            return 'from get'

        def __getitem__(self, key):
            return 'from __getitem__'

    cache = OwnGetItem(directory)
    cache.set('k', 1)
    assert cache['k'] == 'from __getitem__' and cache.get('k') == 'from get'
    cache.close()


def test_plain_subclass_and_cache_keep_the_engine_methods(directory):
    class Plain(diskcache_swift.Cache):
        pass

    for cls in (diskcache_swift.Cache, Plain):
        assert cls.__getitem__ is diskcache_swift.Cache.__getitem__
        assert cls.read is diskcache_swift.Cache.read
        assert cls.delete is diskcache_swift.Cache.delete
    cache = Plain(directory)
    cache['k'] = 1
    assert cache['k'] == 1
    del cache['k']
    with pytest.raises(KeyError):
        del cache['k']
    cache.close()


# -- a custom Disk's remove (app-r5) -------------------------------------------------------

BIG = b'x' * 100_000


def remove_recording_disk(mod, calls):
    class RecordingDisk(mod.Disk):
        def remove(self, file_path):
            calls.append(file_path)
            return super().remove(file_path)

    return RecordingDisk


def value_files(directory):
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _, names in os.walk(directory)
        for name in names
        if name.endswith('.val')
    )


def removal_run(mod, directory):
    """Per step: how many remove calls, and whether they named exactly the files that went."""
    calls = []
    cache = mod.Cache(directory, disk=remove_recording_disk(mod, calls))
    steps = []

    def step(name, action):
        before = value_files(directory)
        del calls[:]
        action()
        gone = sorted(set(before) - set(value_files(directory)))
        steps.append((name, len(calls), sorted(calls) == gone))

    step('set', lambda: cache.set('a', BIG))
    step('overwrite', lambda: cache.set('a', BIG + b'2'))
    step('overwrite inline', lambda: cache.set('a', 1))
    step('setitem', lambda: cache.__setitem__('b', BIG))

    def delitem():
        del cache['b']

    step('delitem', delitem)
    cache.set('c', BIG)
    step('delete', lambda: cache.delete('c'))
    cache.set('d', BIG)
    step('pop', lambda: cache.pop('d'))
    cache.set('e', BIG)
    step('add existing', lambda: cache.add('e', BIG))
    cache.push(BIG, prefix='q')
    step('pull', lambda: cache.pull(prefix='q'))
    cache.set('f', BIG, expire=1000)
    cache.set('g', BIG, expire=1000)
    step('expire', lambda: cache.expire(now=time.time() + 2000))
    cache.set('h', BIG, tag='t')
    cache.set('i', BIG, tag='t')
    step('evict', lambda: cache.evict('t'))
    for n in range(3):
        cache.set(('j', n), BIG)
    step('clear', lambda: cache.clear())

    def transaction():
        with cache.transact():
            cache.set('k', BIG)
            cache.set('k', BIG)
            cache.delete('k')

    step('transaction', transaction)
    for n in range(4):
        cache.set(('l', n), BIG)
    cache.reset('size_limit', 250_000)
    cache.reset('cull_limit', 0)
    step('cull', lambda: cache.cull())
    cache.close()
    return steps


def test_custom_disk_remove_is_called_when_its_file_goes(directory):
    expected = removal_run(diskcache, os.path.join(directory, 'ref'))
    assert ('delitem', 1, True) in expected
    assert removal_run(diskcache_swift, os.path.join(directory, 'ours')) == expected


def test_custom_disk_remove_that_keeps_the_file(directory):
    kept = []

    class KeepingDisk(diskcache_swift.Disk):
        def remove(self, file_path):
            kept.append(file_path)

    cache = diskcache_swift.Cache(directory, disk=KeepingDisk)
    cache['a'] = BIG
    [name] = value_files(directory)
    del cache['a']
    assert kept == [name] and value_files(directory) == [name]
    assert 'a' not in cache
    cache.close()


@pytest.mark.parametrize('mod', MODULES)
def test_custom_disk_remove_in_fanout_cache(mod, directory):
    calls = []
    cache = mod.FanoutCache(directory, shards=2, disk=remove_recording_disk(mod, calls))
    cache['a'] = BIG
    cache['a'] = BIG
    del cache['a']
    assert len(calls) == 2 and value_files(directory) == []
    cache.close()


def failing_remove_run(mod, directory):
    class FailingDisk(mod.Disk):
        def remove(self, file_path):
            super().remove(file_path)
            raise RuntimeError('remove failed')

    cache = mod.Cache(directory, disk=FailingDisk)
    cache['a'] = BIG
    try:
        del cache['a']
        outcome = 'returned'
    except RuntimeError as error:
        outcome = str(error)
    result = (outcome, 'a' in cache, value_files(directory))
    cache.close()
    return result


def test_custom_disk_remove_that_raises_after_the_item_went(directory):
    expected = failing_remove_run(diskcache, os.path.join(directory, 'ref'))
    assert expected == ('remove failed', False, [])
    assert failing_remove_run(diskcache_swift, os.path.join(directory, 'ours')) == expected


def timeout_run(mod, directory):
    import threading

    calls = []
    cache = mod.Cache(directory, timeout=0.05, disk=remove_recording_disk(mod, calls))
    holding, release = threading.Event(), threading.Event()

    def hold():
        with cache.transact():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(10)
    try:
        cache.set('x', BIG)
        outcome = 'stored'
    except mod.Timeout:
        outcome = 'Timeout'
    result = (outcome, len(calls), value_files(directory))
    release.set()
    thread.join()
    result += ('x' in cache,)
    cache.close()
    return result


def test_custom_disk_remove_gets_the_file_of_a_write_that_timed_out(directory):
    expected = timeout_run(diskcache, os.path.join(directory, 'ref'))
    assert expected == ('Timeout', 1, [], False)
    assert timeout_run(diskcache_swift, os.path.join(directory, 'ours')) == expected
