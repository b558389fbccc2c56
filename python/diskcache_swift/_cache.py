"""The Cache class: python-diskcache's Cache over the Swift engine.

The hot methods (get, set, add, delete, pop, incr, decr, touch, read, push, pull, peek,
peekitem and the dunder methods) are the engine's own, inherited from ``_engine.CacheCore``:
calling them runs no Python code. What is here is the rest of the API, and for subclasses
that override get, set, __delitem__ or incr, python-diskcache's callers of those.
"""

import contextlib as cl
import errno
import os
import os.path as op
import tempfile
import warnings

from . import _engine
from . import core
from ._asyncio import AsyncMethods
from ._pickling import KeepsOpenOptions, open_options


class Cache(KeepsOpenOptions, _engine.CacheCore, AsyncMethods):
    """Disk and file backed cache."""

    def __init__(self, directory=None, timeout=60, disk=core.Disk, network=None, network_lease=30.0, read_only=False, **settings):
        """Open (creating if needed) the cache in `directory`.

        `network` (diskcache_swift only) chooses how processes coordinate: None detects
        network filesystems (NFS, SMB/CIFS, sshfs and other FUSE network filesystems,
        Ceph, Lustre, 9p, AFS ...) and directories already in network mode; True/False
        force it. `network_lease` (seconds, network mode) is how long a write may hold the
        cache before other processes abandon it and it fails with Timeout.

        `read_only` (diskcache_swift only) opens an existing cache without writing to its
        directory (which may belong to another user or be on a read-only filesystem): no
        file is created or changed, other processes' writes show as usual, and every write
        raises `ReadOnlyError` (an OSError with errno EROFS) having changed nothing.
        Settings given must match the stored ones.
        """
        if 'max_entries' in settings:
            _check_max_entries(settings['max_entries'])
        try:
            assert issubclass(disk, core.Disk)
        except (TypeError, AssertionError):
            raise ValueError('disk must subclass diskcache.Disk') from None
        if directory is None:
            directory = tempfile.mkdtemp(prefix='diskcache-')
        directory = str(directory)
        directory = op.expanduser(directory)
        directory = op.expandvars(directory)
        self._directory = directory
        self._timeout = 0
        self._read_only = bool(read_only)
        self._open_options = open_options(network, network_lease, read_only)
        if not op.isdir(directory) and not read_only:
            try:
                os.makedirs(directory, 0o755)
            except OSError as error:
                if error.errno != errno.EEXIST:
                    raise EnvironmentError(
                        error.errno,
                        'Cache directory "%s" does not exist and could not be created' % self._directory,
                    ) from None
        for key in core.METADATA:
            settings.pop(key, None)
        persisted = {key: value for key, value in settings.items() if value is not None}
        super().__init__(directory, persisted, network, float(network_lease), float(timeout), self._read_only)
        sets = dict(core.DEFAULT_SETTINGS)
        sets.update(self._settings())
        sets.update(settings)
        for key, value in sets.items():
            setattr(self, key, value)
        disk_args = {key[5:]: value for key, value in sets.items() if key.startswith('disk_')}
        self._disk = disk(directory, **disk_args)
        self._timeout = timeout
        self._apply_disk()
        self.max_entries = _stored_max_entries(self)
        self.count = len(self)
        self.size = self._volume()
        self.hits, self.misses = self._stats()

    __delitem__ = _engine.CacheCore._delitem

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _dispatch_to_overrides(cls)

    def _apply_disk(self):
        disk = self._disk
        custom = None if type(disk) is core.Disk else disk
        # The asyncio methods attempt calls on the loop's thread only without Python Disk code.
        self._async_direct = custom is None
        # The engine removes value files itself unless the Disk has its own way.
        remove = None if type(disk).remove is core.Disk.remove else disk.remove
        self._configure(int(disk.min_file_size), disk.pickle_protocol, custom, float(self._timeout), remove)

    @property
    def directory(self):
        """Cache directory."""
        return self._directory

    @property
    def read_only(self):
        """Whether the cache was opened read-only (writes raise ReadOnlyError)."""
        return self._read_only

    @property
    def timeout(self):
        """Seconds a write waits for another process's lock before raising Timeout."""
        return self._timeout

    @property
    def disk(self):
        """Disk used for serialization."""
        return self._disk

    def memoize(self, name=None, typed=False, expire=None, tag=None, ignore=()):
        """Memoizing cache decorator (see python-diskcache's Cache.memoize)."""
        return core._memoize(self, name, typed, expire, tag, ignore)

    @cl.contextmanager
    def transact(self, retry=False):
        """Context manager: the block's operations are one all-or-nothing transaction."""
        self._begin(retry)
        try:
            yield
        except BaseException:
            self._end(False)
            raise
        self._end(True)

    def check(self, fix=False, retry=False):
        """Check the cache for consistency; with `fix`, repair. Returns the warnings."""
        categories = {'unknown': core.UnknownFileWarning, 'empty': core.EmptyDirWarning}
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter('always')
            for kind, message in self._check(fix, retry):
                warnings.warn(message, categories.get(kind, UserWarning))
        return found

    def create_tag_index(self):
        """Create tag index (tags are always indexed here; kept for compatibility)."""
        self.reset('tag_index', 1)

    def drop_tag_index(self):
        """Drop tag index (kept for compatibility)."""
        self.reset('tag_index', 0)

    def evict(self, tag, retry=False):
        """Remove items with matching `tag` from cache. Returns the count removed."""
        return self._evict(tag, retry)

    def expire(self, now=None, retry=False):
        """Remove expired items from cache. Returns the count removed."""
        return self._expire(now, retry)

    def cull(self, retry=False):
        """Cull items: expired first, then by eviction policy while over the size limit."""
        return self._cull(retry)

    def clear(self, retry=False):
        """Remove all items from cache. Returns the count removed."""
        return self._clear(retry)

    def stats(self, enable=True, reset=False):
        """Return cache statistics hits and misses; turn statistics on or off."""
        result = self._stats()
        self.hits, self.misses = result
        if reset:
            self._reset_stats()
            self.hits = self.misses = 0
        if not (self._read_only and self._settings().get('statistics') == enable):
            self.reset('statistics', enable)
        else:
            self.statistics = enable
        return result

    def volume(self):
        """Return estimated total size of cache on disk."""
        return self._volume()

    def close(self):
        """Close the cache's files; the next use reopens them."""
        self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __iter__(self):
        bounds = self._rowid_bounds()
        if bounds is None:
            return
        cursor, bound = None, bounds[1]
        while True:
            keys, cursor = self._keys_page(cursor, bound, False, 100)
            if not keys:
                return
            yield from keys

    def __reversed__(self):
        bounds = self._rowid_bounds()
        if bounds is None:
            return
        cursor, bound = None, bounds[1]
        while True:
            keys, cursor = self._keys_page(cursor, bound, True, 100)
            if not keys:
                return
            yield from keys

    def iterkeys(self, reverse=False):
        """Iterate keys in database (SQLite key) order."""
        yield from self._sorted_keys(reverse)

    def reset(self, key, value=core.ENOVAL, update=True):
        """Reset `key` and `value` item from Settings; returns the value."""
        if key == 'max_entries':
            return _reset_max_entries(self, value, update)
        if value is core.ENOVAL:
            if key == 'count':
                value = len(self)
            elif key == 'size':
                value = self._volume()
            elif key in ('hits', 'misses'):
                value = self._stats()[0 if key == 'hits' else 1]
            else:
                stored = self._settings()
                if key not in stored:
                    raise ValueError('not enough values to unpack (expected 1, got 0)')
                value = stored[key]
            setattr(self, key, value)
            return value
        if update and key not in core.METADATA:
            self._update_setting(key, value)
        elif update and key in ('hits', 'misses') and value == 0:
            self._reset_stats()
        if key.startswith('disk_'):
            setattr(self._disk, key[5:], value)
            self._apply_disk()
        setattr(self, key, value)
        return value

    def __getstate__(self):
        # python-diskcache's tuple exactly: subclasses extend it and their __init__ takes it
        # positionally (dvc-data's does). read_only, network and network_lease travel beside
        # it (_pickling.KeepsOpenOptions).
        return (self.directory, self.timeout, type(self.disk))

    # python-diskcache's private SQLite connection, which applications (dvc-data) run SQL on:
    # the statements they run, carried out on the engine (_sqlcompat's doc lists them).
    # Imported on first use: the layer and sqlite3 are a fifth of the package's import time.
    _con = property(lambda self: _sql_connection(self))
    _sql = property(lambda self: _sql_connection(self).execute)
    _sql_retry = property(lambda self: _sql_connection(self, retry=True).execute)

    @property
    def network(self):
        """Whether processes sharing this cache coordinate in network-filesystem mode."""
        return self._network_mode()

    def __setstate__(self, state):
        self.__init__(*state, **self._unpickled_options())

    # ---- diskcache_swift additions (issue 11, batches branch): batches, listing ----------
    # get_many(keys, default=None, read=False, expire_time=False, tag=False, retry=False),
    # set_many(items, expire=None, read=False, tag=None, retry=False) and
    # delete_many(keys, retry=False) are the engine's own (CacheCore): one call each, one
    # read or one write (one lock acquisition, one append) per batch.

    def keys(self):
        """List of the keys of the live (unexpired) items, in insertion order (a snapshot)."""
        return self._live_keys()

    def values(self):
        """List of the values of the live items, in insertion order (a snapshot)."""
        return [value for _, value in self._live_items()]

    def items(self):
        """List of (key, value) of the live items, in insertion order (a snapshot)."""
        return self._live_items()

    def exists(self, key):
        """Whether a live item is stored under `key` (``key in cache``)."""
        return key in self

    def vacuum(self):
        """Compact the cache's log now (the engine also does it when dead space grows)."""
        self._compact()

    def iterkeys_by_tag(self, tag):
        """Iterate the keys of the items carrying `tag`, in insertion order, without reading
        values (expired items not yet removed included, as in iteration)."""
        return iter(self._keys_by_tag(tag))

    def iterinfo(self, reverse=False):
        """Iterate ItemInfo(key, expire_time, tag, store_time, size) of every item in
        insertion order (reversed with `reverse`), from the index and the records' metadata:
        values are never read. Expired items not yet removed are included, as in iteration."""
        bounds = self._rowid_bounds()
        if bounds is None:
            return
        cursor, bound = None, bounds[1]
        while True:
            infos, cursor = self._info_page(cursor, bound, bool(reverse), 100)
            if not infos:
                return
            for info in infos:
                yield core.ItemInfo(*info)

    # ---- end of the batches branch's block ------------------------------------------------


def _check_max_entries(value):
    """max_entries: None or 0 (no bound) or a positive int."""
    if value is None:
        return
    if type(value) is bool or not isinstance(value, int):
        raise TypeError('max_entries must be an int or None, not %s' % type(value).__name__)
    if value < 0:
        raise ValueError('max_entries must be 0 or more (0 or None: no bound), not %r' % value)


def _stored_max_entries(cache):
    return cache._settings().get('max_entries') or None


def _reset_max_entries(cache, value, update):
    # Persisted as an int (0: no bound); the attribute is None when there is none.
    if value is core.ENOVAL:
        value = _stored_max_entries(cache)
    else:
        _check_max_entries(value)
        if update:
            cache._update_setting('max_entries', value or 0)
        value = value or None
    cache.max_entries = value
    return value


def _getitem_via_get(self, key):
    value = self.get(key, default=core.ENOVAL, retry=True)
    if value is core.ENOVAL:
        raise KeyError(key)
    return value


def _read_via_get(self, key, retry=False):
    handle = self.get(key, default=core.ENOVAL, read=True, retry=retry)
    if handle is core.ENOVAL:
        raise KeyError(key)
    return handle


def _setitem_via_set(self, key, value):
    self.set(key, value, retry=True)


def _delete_via_delitem(self, key, retry=False):
    try:
        return self.__delitem__(key, retry=retry)
    except KeyError:
        return False


def _decr_via_incr(self, key, delta=1, default=0, retry=False):
    return self.incr(key, -delta, default, retry)


# python-diskcache implements these methods by calling those (core.py 5.6.3: __getitem__ and
# read call get, __setitem__ calls set, delete calls __delitem__, decr calls incr), so a
# subclass that overrides the callee changes the caller too. Cache's own are the engine's and
# call nothing; a subclass that overrides a callee gets python-diskcache's caller in Python
# (unless it defines the caller itself). Cache itself keeps the engine's.
_CALLERS = (
    ('get', '__getitem__', _getitem_via_get),
    ('get', 'read', _read_via_get),
    ('set', '__setitem__', _setitem_via_set),
    ('__delitem__', 'delete', _delete_via_delitem),
    ('incr', 'decr', _decr_via_incr),
)


def _dispatch_to_overrides(cls):
    for callee, caller, function in _CALLERS:
        if getattr(cls, callee) is not getattr(Cache, callee) and getattr(cls, caller) is getattr(Cache, caller):
            setattr(cls, caller, function)
    # Defining __delitem__ (as Cache does) gives a class Python's generic item assignment;
    # a subclass that changes neither assignment nor deletion gets the engine's back.
    if all(getattr(cls, name) is getattr(Cache, name) for name in ('__setitem__', '__delitem__')):
        _engine._fast_slots(cls)


_engine._fast_slots(Cache)


def _sql_connection(cache, retry=False):
    from ._sqlcompat import Connection

    return Connection(cache, retry=retry)
