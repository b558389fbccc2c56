"""What real applications lean on beyond python-diskcache's documented API (issue 11): the
pickled state of a Cache subclass, which methods python-diskcache's dunders call (so a
subclass's overrides see them), and a custom Disk's remove. Each is compared with
python-diskcache 5.6.3 (the reference)."""

import os
import pickle
import shutil
import tempfile

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
