"""FastCache: a memory-only, least-recently-used cache with Cache's call shapes.

For values a process only needs while it runs: nothing touches the disk, nothing is shared
with other processes, and every operation is a dictionary operation under one lock (safe
from many threads).

Bounds (either, both or neither):

- ``max_size``: at most this many items.
- ``max_bytes``: the values' sizes add up to at most this many bytes. A value's size is its
  length for ``bytes``/``bytearray`` (``nbytes`` for ``memoryview``), the length of its
  UTF-8 encoding for ``str``, and the length of its pickle (highest protocol) for anything
  else. Keys are not counted. Sizes are only measured when ``max_bytes`` is set (so without
  it, values need not be picklable).

After every write that adds or grows an item, least-recently-used items (a read or a write
makes an item the most recent) are dropped until both bounds hold. A value larger than
``max_bytes`` on its own is not kept (the write succeeds and the item it replaced is gone),
and the other items stay (Cache culls older items along with an item over ``size_limit``).

Differences from Cache, on purpose:

- Keys follow Python's dictionary equality and must be hashable: ``1``, ``1.0`` and ``True``
  are one key (Cache keeps ``True`` apart), and a list key raises TypeError (Cache pickles it).
- Values are kept as the objects given (not copies): mutating one mutates the cached value.
- ``read=True`` stores the bytes read from the file-like value; ``get(read=True)`` of a
  bytes value returns an ``io.BytesIO`` over it.
- Expired items are removed when met (a read or write of their key, or ``expire()``);
  ``len`` and iteration count them until then, as Cache's do.
- ``retry`` is accepted and ignored: nothing ever waits for another process.
"""

import collections
import io
import pickle
import threading
from time import time as _now

from .core import ENOVAL

_DEFAULT = object()


def _bound(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('%s must be None or an int, not %s' % (name, type(value).__name__))
    if value < 0:
        raise ValueError('%s must be >= 0, got %d' % (name, value))
    return value


def _expire_time(expire, now):
    if expire is None:
        return None
    if isinstance(expire, bool) or not isinstance(expire, (int, float)):
        raise TypeError('expire must be None or a number of seconds, not %s' % type(expire).__name__)
    return now + expire


def _unhashable(key):
    return TypeError('key must be hashable, not %s' % type(key).__name__)


def _hashable(key):
    try:
        hash(key)
    except TypeError:
        raise _unhashable(key) from None


def _shape(value, expire_time, tag, want_expire_time, want_tag):
    if want_expire_time and want_tag:
        return value, expire_time, tag
    if want_expire_time:
        return value, expire_time
    if want_tag:
        return value, tag
    return value


class FastCache:
    """Memory-only LRU cache, bounded by item count (`max_size`) and value bytes (`max_bytes`)."""

    def __init__(self, max_size=None, max_bytes=None):
        self._max_size = _bound('max_size', max_size)
        self._max_bytes = _bound('max_bytes', max_bytes)
        # key -> (value, expire_time or None, tag, size); order = least recently used first.
        self._items = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def max_size(self):
        """Most items kept (None: no bound)."""
        return self._max_size

    @property
    def max_bytes(self):
        """Most value bytes kept (None: no bound; see the module doc for how values are measured)."""
        return self._max_bytes

    def volume(self):
        """Bytes of the values kept, as measured for `max_bytes` (0 when it is not set)."""
        return self._bytes

    def _size(self, value):
        if self._max_bytes is None:
            return 0
        if isinstance(value, (bytes, bytearray)):
            return len(value)
        if isinstance(value, memoryview):
            return value.nbytes
        if isinstance(value, str):
            return len(value.encode('utf-8', 'surrogatepass'))
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def _live(self, key, now):
        """The entry of `key` if present and unexpired (an expired one is removed); else None."""
        entry = self._items.get(key)
        if entry is None:
            return None
        expire_time = entry[1]
        if expire_time is not None and expire_time <= now:
            del self._items[key]
            self._bytes -= entry[3]
            return None
        return entry

    def _store(self, key, value, expire_time, tag, size):
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[3]
        if self._max_bytes is not None and size > self._max_bytes:
            return
        self._items[key] = (value, expire_time, tag, size)
        self._bytes += size
        self._shrink()

    def _shrink(self):
        items, max_size, max_bytes = self._items, self._max_size, self._max_bytes
        while items and (
            (max_size is not None and len(items) > max_size) or (max_bytes is not None and self._bytes > max_bytes)
        ):
            _, entry = items.popitem(last=False)
            self._bytes -= entry[3]

    def _prepare(self, key, value, expire, read):
        _hashable(key)
        if read:
            value = value.read()
        return value, _expire_time(expire, _now()), self._size(value)

    def set(self, key, value, expire=None, read=False, tag=None, retry=False):
        """Set `key` to `value` (expiring after `expire` seconds, with `tag`). Returns True."""
        if read or expire is not None or self._max_bytes is not None:
            value, expire_time, size = self._prepare(key, value, expire, read)
        else:
            expire_time = None
            size = 0
        with self._lock:
            try:
                self._store(key, value, expire_time, tag, size)
            except TypeError:
                _hashable(key)
                raise
        return True

    def __setitem__(self, key, value):
        self.set(key, value)

    def add(self, key, value, expire=None, read=False, tag=None, retry=False):
        """Set `key` only if it is absent (or expired). Returns whether it was set."""
        value, expire_time, size = self._prepare(key, value, expire, read)
        with self._lock:
            if self._live(key, _now()) is not None:
                return False
            self._store(key, value, expire_time, tag, size)
        return True

    def get(self, key, default=None, read=False, expire_time=False, tag=False, retry=False):
        """The value of `key` (shaped as Cache.get shapes it), or `default`."""
        items = self._items
        with self._lock:
            try:
                entry = items[key]
            except KeyError:
                entry = None
            except TypeError:
                raise _unhashable(key) from None
            else:
                if entry[1] is not None and entry[1] <= _now():
                    del items[key]
                    self._bytes -= entry[3]
                    entry = None
                else:
                    items.move_to_end(key)
        if entry is None:
            return _shape(default, None, None, expire_time, tag) if expire_time or tag else default
        value = entry[0]
        if read and isinstance(value, bytes):
            value = io.BytesIO(value)
        return _shape(value, entry[1], entry[2], expire_time, tag) if expire_time or tag else value

    def __getitem__(self, key):
        value = self.get(key, ENOVAL)
        if value is ENOVAL:
            raise KeyError(key)
        return value

    def read(self, key, retry=False):
        """A file-like object over the bytes value of `key`; KeyError if absent."""
        handle = self.get(key, ENOVAL, read=True)
        if handle is ENOVAL:
            raise KeyError(key)
        return handle

    def __contains__(self, key):
        _hashable(key)
        with self._lock:
            return self._live(key, _now()) is not None

    def pop(self, key, default=None, expire_time=False, tag=False, retry=False):
        """Remove `key` and return its value (shaped as Cache.pop shapes it), or `default`."""
        _hashable(key)
        with self._lock:
            entry = self._live(key, _now())
            if entry is None:
                return _shape(default, None, None, expire_time, tag)
            del self._items[key]
            self._bytes -= entry[3]
        return _shape(entry[0], entry[1], entry[2], expire_time, tag)

    def delete(self, key, retry=False):
        """Remove `key`. Returns whether it was present."""
        return self.pop(key, ENOVAL) is not ENOVAL

    def __delitem__(self, key):
        if self.pop(key, ENOVAL) is ENOVAL:
            raise KeyError(key)

    def touch(self, key, expire=None, retry=False):
        """Give `key` a new expiry (None: never). Returns whether it was present."""
        _hashable(key)
        now = _now()
        expire_time = _expire_time(expire, now)
        with self._lock:
            entry = self._live(key, now)
            if entry is None:
                return False
            self._items[key] = (entry[0], expire_time, entry[2], entry[3])
            self._items.move_to_end(key)
        return True

    def incr(self, key, delta=1, default=0, retry=False):
        """Add `delta` to the int value of `key` (absent: `default` + `delta`; KeyError if
        `default` is None). Keeps the item's expiry and tag. Returns the new value."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError('delta must be an int, not %s' % type(delta).__name__)
        if default is not None and (isinstance(default, bool) or not isinstance(default, int)):
            raise TypeError('default must be None or an int, not %s' % type(default).__name__)
        _hashable(key)
        with self._lock:
            entry = self._live(key, _now())
            if entry is None:
                if default is None:
                    raise KeyError(key)
                value = default + delta
                self._store(key, value, None, None, self._size(value))
                return value
            current = entry[0]
            if isinstance(current, bool) or not isinstance(current, int):
                raise TypeError('value of %r is %s, not an int' % (key, type(current).__name__))
            value = current + delta
            self._store(key, value, entry[1], entry[2], self._size(value))
            return value

    def decr(self, key, delta=1, default=0, retry=False):
        """Subtract `delta` from the int value of `key` (see incr)."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError('delta must be an int, not %s' % type(delta).__name__)
        return self.incr(key, -delta, default, retry)

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        """Keys, least recently used first (a snapshot)."""
        with self._lock:
            keys = list(self._items)
        return iter(keys)

    def keys(self):
        """Keys of unexpired items, least recently used first."""
        return [key for key, _ in self.items()]

    def values(self):
        """Values of unexpired items, least recently used first."""
        return [value for _, value in self.items()]

    def items(self):
        """(key, value) pairs of unexpired items, least recently used first; reads no item
        (the order is unchanged)."""
        now = _now()
        with self._lock:
            return [
                (key, entry[0]) for key, entry in self._items.items() if entry[1] is None or entry[1] > now
            ]

    def expire(self, now=None, retry=False):
        """Remove expired items. Returns how many."""
        now = _now() if now is None else now
        with self._lock:
            dead = [key for key, entry in self._items.items() if entry[1] is not None and entry[1] <= now]
            for key in dead:
                self._bytes -= self._items.pop(key)[3]
        return len(dead)

    def clear(self, retry=False):
        """Remove every item. Returns how many."""
        with self._lock:
            count = len(self._items)
            self._items.clear()
            self._bytes = 0
        return count

    def close(self):
        """Nothing to close (kept for Cache's shape); the items stay."""

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __repr__(self):
        return 'FastCache(max_size=%r, max_bytes=%r)' % (self._max_size, self._max_bytes)
