"""FanoutCache: python-diskcache's sharded cache over diskcache_swift Caches."""

import contextlib as cl
import functools
import itertools as it
import operator
import os.path as op
import tempfile
import time

from . import _engine
from .core import DEFAULT_SETTINGS, ENOVAL, Cache, Disk, Timeout, _memoize
from .persistent import Deque, Index
from ._asyncio import AsyncMethods  # aget, aset ... (diskcache_swift)
from ._pickling import KeepsOpenOptions, open_options


class FanoutCache(KeepsOpenOptions, AsyncMethods):
    """Cache that shards keys and values."""

    def __init__(self, directory=None, shards=8, timeout=0.010, disk=Disk, **settings):
        if directory is None:
            directory = tempfile.mkdtemp(prefix='diskcache-')
        directory = str(directory)
        directory = op.expanduser(directory)
        directory = op.expandvars(directory)
        default_size_limit = DEFAULT_SETTINGS['size_limit']
        # Read-only: the shards' stored limit stands unless one is asked for (and must match).
        limit = {} if settings.get('read_only') and 'size_limit' not in settings else {
            'size_limit': settings.pop('size_limit', default_size_limit) / shards
        }
        settings.pop('size_limit', None)
        if settings.get('max_entries'):
            # Split like size_limit; every shard keeps at least one item.
            settings['max_entries'] = _shard_max_entries(settings['max_entries'], shards)
        self._count = shards
        self._directory = directory
        self._disk = disk
        self._async_direct = disk is Disk  # see AsyncMethods
        # diskcache_swift's coordination mode and read-only flag, passed on to every sub-cache.
        self._network = {k: settings[k] for k in ('network', 'network_lease', 'read_only') if k in settings}
        self._open_options = open_options(**self._network)
        self._shards = tuple(
            Cache(
                directory=op.join(directory, '%03d' % num),
                timeout=timeout,
                disk=disk,
                **limit,
                **settings,
            )
            for num in range(shards)
        )
        self._hash = self._shards[0].disk.hash
        self._caches = {}
        self._deques = {}
        self._indexes = {}

    @property
    def directory(self):
        """Cache directory."""
        return self._directory

    def __getattr__(self, name):
        safe_names = {'timeout', 'disk', 'max_entries'}
        valid_name = name in DEFAULT_SETTINGS or name in safe_names
        assert valid_name, 'cannot access {} in cache shard'.format(name)
        return getattr(self._shards[0], name)

    @cl.contextmanager
    def transact(self, retry=True):
        """Lock every shard, in order, for the duration of the block."""
        assert retry, 'retry must be True in FanoutCache'
        with cl.ExitStack() as stack:
            for shard in self._shards:
                shard_transaction = shard.transact(retry=True)
                stack.enter_context(shard_transaction)
            yield

    def _shard(self, key):
        return self._shards[self._hash(key) % self._count]

    def set(self, key, value, expire=None, read=False, tag=None, retry=False):
        """Set `key` and `value` item in cache; False on timeout."""
        try:
            return self._shard(key).set(key, value, expire, read, tag, retry)
        except Timeout:
            return False

    def __setitem__(self, key, value):
        self._shard(key)[key] = value

    def touch(self, key, expire=None, retry=False):
        """Touch `key` in cache and update `expire` time; False on timeout."""
        try:
            return self._shard(key).touch(key, expire, retry)
        except Timeout:
            return False

    def add(self, key, value, expire=None, read=False, tag=None, retry=False):
        """Add `key` and `value` item to cache if absent; False on timeout."""
        try:
            return self._shard(key).add(key, value, expire, read, tag, retry)
        except Timeout:
            return False

    def incr(self, key, delta=1, default=0, retry=False):
        """Increment value by delta for item with key; None on timeout."""
        try:
            return self._shard(key).incr(key, delta, default, retry)
        except Timeout:
            return None

    def decr(self, key, delta=1, default=0, retry=False):
        """Decrement value by delta for item with key; None on timeout."""
        try:
            return self._shard(key).decr(key, delta, default, retry)
        except Timeout:
            return None

    def get(self, key, default=None, read=False, expire_time=False, tag=False, retry=False):
        """Retrieve value from cache; `default` on timeout."""
        try:
            return self._shard(key).get(key, default, read, expire_time, tag, retry)
        except Timeout:
            return default

    def __getitem__(self, key):
        return self._shard(key)[key]

    def read(self, key):
        """Return file handle corresponding to `key` from cache."""
        handle = self.get(key, default=ENOVAL, read=True, retry=True)
        if handle is ENOVAL:
            raise KeyError(key)
        return handle

    def __contains__(self, key):
        return key in self._shard(key)

    def pop(self, key, default=None, expire_time=False, tag=False, retry=False):
        """Remove item for `key` and return its value; `default` on timeout."""
        try:
            return self._shard(key).pop(key, default, expire_time, tag, retry)
        except Timeout:
            return default

    def delete(self, key, retry=False):
        """Delete item for `key`; False on timeout."""
        try:
            return self._shard(key).delete(key, retry)
        except Timeout:
            return False

    def __delitem__(self, key):
        del self._shard(key)[key]

    def check(self, fix=False, retry=False):
        """Check every shard; returns the concatenated warnings."""
        warnings = (shard.check(fix, retry) for shard in self._shards)
        return functools.reduce(operator.iadd, warnings, [])

    def expire(self, retry=False):
        """Remove expired items from every shard."""
        return self._remove('expire', args=(time.time(),), retry=retry)

    def create_tag_index(self):
        """Create tag index on every shard."""
        for shard in self._shards:
            shard.create_tag_index()

    def drop_tag_index(self):
        """Drop tag index on every shard."""
        for shard in self._shards:
            shard.drop_tag_index()

    def evict(self, tag, retry=False):
        """Remove items with matching `tag` from every shard."""
        return self._remove('evict', args=(tag,), retry=retry)

    def cull(self, retry=False):
        """Cull items from every shard."""
        return self._remove('cull', retry=retry)

    def clear(self, retry=False):
        """Remove all items from every shard."""
        return self._remove('clear', retry=retry)

    def _remove(self, name, args=(), retry=False):
        total = 0
        for shard in self._shards:
            method = getattr(shard, name)
            while True:
                try:
                    count = method(*args, retry=retry)
                    total += count
                except Timeout as timeout:
                    total += timeout.args[0] if timeout.args and isinstance(timeout.args[0], int) else 0
                else:
                    break
        return total

    def stats(self, enable=True, reset=False):
        """Return summed hits and misses of every shard."""
        results = [shard.stats(enable, reset) for shard in self._shards]
        total_hits = sum(hits for hits, _ in results)
        total_misses = sum(misses for _, misses in results)
        return total_hits, total_misses

    def volume(self):
        """Return estimated total size of cache on disk."""
        return sum(shard.volume() for shard in self._shards)

    def close(self):
        """Close every shard and the sub-caches."""
        for shard in self._shards:
            shard.close()
        self._caches.clear()
        self._deques.clear()
        self._indexes.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __getstate__(self):
        return (self._directory, self._count, self.timeout, type(self.disk))

    def __setstate__(self, state):
        self.__init__(*state, **self._unpickled_options())

    def __iter__(self):
        iterators = (iter(shard) for shard in self._shards)
        return it.chain.from_iterable(iterators)

    def __reversed__(self):
        iterators = (reversed(shard) for shard in reversed(self._shards))
        return it.chain.from_iterable(iterators)

    def __len__(self):
        return sum(len(shard) for shard in self._shards)

    def reset(self, key, value=ENOVAL):
        """Reset `key` and `value` item from Settings of every shard."""
        for shard in self._shards:
            while True:
                try:
                    result = shard.reset(key, value)
                except Timeout:
                    pass
                else:
                    break
        return result

    def cache(self, name, timeout=60, disk=None, **settings):
        """Return Cache with given `name` in subdirectory."""
        try:
            return self._caches[name]
        except KeyError:
            parts = name.split('/')
            directory = op.join(self._directory, 'cache', *parts)
            temp = Cache(directory=directory, timeout=timeout, disk=self._disk if disk is None else Disk, **{**self._network, **settings})
            self._caches[name] = temp
            return temp

    def deque(self, name, maxlen=None):
        """Return Deque with given `name` in subdirectory."""
        try:
            return self._deques[name]
        except KeyError:
            parts = name.split('/')
            directory = op.join(self._directory, 'deque', *parts)
            cache = Cache(directory=directory, disk=self._disk, eviction_policy='none', **self._network)
            deque = Deque.fromcache(cache, maxlen=maxlen)
            self._deques[name] = deque
            return deque

    def index(self, name):
        """Return Index with given `name` in subdirectory."""
        try:
            return self._indexes[name]
        except KeyError:
            parts = name.split('/')
            directory = op.join(self._directory, 'index', *parts)
            cache = Cache(directory=directory, disk=self._disk, eviction_policy='none', **self._network)
            index = Index.fromcache(cache)
            self._indexes[name] = index
            return index

    def memoize(self, name=None, typed=False, expire=None, tag=None, ignore=()):
        """Memoizing cache decorator (see Cache.memoize)."""
        return _memoize(self, name, typed, expire, tag, ignore)

    # ---- diskcache_swift additions (issue 11, batches branch) -----------------------------
    # Batches go to each shard once: one call into the engine, one lock acquisition and one
    # append per shard. Listing walks the shards in order, as iteration does.

    def _by_shard(self, keys):
        """{shard number: [key, ...]} in the order given."""
        groups = {}
        for key in keys:
            groups.setdefault(self._hash(key) % self._count, []).append(key)
        return groups

    def get_many(self, keys, default=None, read=False, expire_time=False, tag=False, retry=False):
        """Retrieve many keys: a dict of those present (see Cache.get_many), in the order
        given. A shard that times out answers as if its keys were missing."""
        keys = _engine._iterable(keys, 'keys')
        found = {}
        for num, shard_keys in self._by_shard(keys).items():
            try:
                found.update(self._shards[num].get_many(shard_keys, default, read, expire_time, tag, retry))
            except Timeout:
                if default is not None:
                    found.update((key, _shaped(default, expire_time, tag)) for key in shard_keys)
        return {key: found[key] for key in keys if key in found}

    def set_many(self, items, expire=None, read=False, tag=None, retry=False):
        """Set many (key, value) items (see Cache.set_many): all or none, across shards too.
        Returns the count stored; 0 if a shard's lock timed out (nothing is stored then)."""
        groups = {}
        for key, value in _engine._pairs(items):
            groups.setdefault(self._hash(key) % self._count, []).append((key, value))
        if len(groups) <= 1:
            try:
                return sum(self._shards[num].set_many(pairs, expire, read, tag, retry) for num, pairs in groups.items())
            except Timeout:
                return 0
        # Several shards: each takes its lock in one transaction, in shard order (as
        # transact() does), so that a failing item anywhere stores none.
        begun = []
        try:
            for num in sorted(groups):
                self._shards[num]._begin(retry)
                begun.append(self._shards[num])
        except Timeout:
            for shard in reversed(begun):
                shard._end(False)
            return 0
        try:
            stored = sum(self._shards[num].set_many(groups[num], expire, read, tag) for num in sorted(groups))
        except BaseException:
            for shard in reversed(begun):
                shard._end(False)
            raise
        for shard in begun:
            shard._end(True)
        return stored

    def delete_many(self, keys, retry=False):
        """Delete many keys; returns the count that were present (a shard that times out
        deletes none and counts 0)."""
        keys = _engine._iterable(keys, 'keys')
        total = 0
        for num, shard_keys in self._by_shard(keys).items():
            try:
                total += self._shards[num].delete_many(shard_keys, retry)
            except Timeout:
                pass
        return total

    def keys(self):
        """List of the live keys, shard by shard (each in insertion order)."""
        return [key for shard in self._shards for key in shard.keys()]

    def values(self):
        """List of the live values, in the order of keys()."""
        return [value for shard in self._shards for value in shard.values()]

    def items(self):
        """List of (key, value) of the live items, in the order of keys()."""
        return [item for shard in self._shards for item in shard.items()]

    def exists(self, key):
        """Whether a live item is stored under `key`."""
        return key in self

    def vacuum(self):
        """Compact every shard's log now."""
        for shard in self._shards:
            shard.vacuum()

    def iterkeys_by_tag(self, tag):
        """Iterate the keys carrying `tag`, shard by shard (see Cache.iterkeys_by_tag)."""
        return iter([key for shard in self._shards for key in shard.iterkeys_by_tag(tag)])

    def iterinfo(self, reverse=False):
        """Iterate ItemInfo of every item, shard by shard as iteration goes (see
        Cache.iterinfo); values are never read."""
        shards = reversed(self._shards) if reverse else self._shards
        return it.chain.from_iterable(shard.iterinfo(reverse) for shard in shards)

    # Queues: every operation on the queue of one `prefix` goes to one shard, the shard the
    # key str(prefix) hashes to (None: the key None's), so a queue keeps its order exactly
    # as Cache's does. Its items live in that shard: len, iteration, clear, evict and expire
    # see them, but get/[]/delete of a pushed key look in the shard that key hashes to.

    def _queue_shard(self, prefix):
        return self._shard(None if prefix is None else str(prefix))

    def push(self, value, prefix=None, side='back', expire=None, read=False, tag=None, retry=False):
        """Push `value` onto `side` of the queue of `prefix` (see Cache.push); returns the
        key, or None if the shard's lock timed out."""
        try:
            return self._queue_shard(prefix).push(value, prefix, side, expire, read, tag, retry)
        except Timeout:
            return None

    def pull(self, prefix=None, default=(None, None), side='front', expire_time=False, tag=False, retry=False):
        """Pull (key, value) from `side` of the queue of `prefix` (see Cache.pull);
        `default` when empty or if the shard's lock timed out."""
        try:
            return self._queue_shard(prefix).pull(prefix, default, side, expire_time, tag, retry)
        except Timeout:
            return _shaped(default, expire_time, tag)

    def peek(self, prefix=None, default=(None, None), side='front', expire_time=False, tag=False, retry=False):
        """Peek at (key, value) at `side` of the queue of `prefix` (see Cache.peek)."""
        try:
            return self._queue_shard(prefix).peek(prefix, default, side, expire_time, tag, retry)
        except Timeout:
            return _shaped(default, expire_time, tag)

    def peekitem(self, last=True, expire_time=False, tag=False, retry=False):
        """(key, value) of the last (or first) item in iteration order: the last item of the
        last non-empty shard (the first of the first), as reversed(cache) (iter(cache))
        would give it. KeyError if the cache is empty."""
        shards = reversed(self._shards) if last else self._shards
        for shard in shards:
            try:
                return shard.peekitem(last, expire_time, tag, retry)
            except KeyError:
                continue
        raise KeyError('dictionary is empty')

    # ---- end of the batches branch's block ------------------------------------------------


def _shard_max_entries(max_entries, shards):
    if type(max_entries) is int and max_entries > 0:
        return max(1, max_entries // shards)
    return max_entries  # left for Cache to accept (0) or reject


def _shaped(value, expire_time, tag):
    """A queue's default in the shape pull/peek return it."""
    if expire_time and tag:
        return value, None, None
    if expire_time or tag:
        return value, None
    return value
