"""Core of diskcache_swift: python-diskcache 5.6.3's ``diskcache.core`` surface, with the
storage engine in Swift (``_engine.CacheCore``) instead of SQLite."""

import codecs
import contextlib as cl
import errno
import functools as ft
import io
import json
import os
import os.path as op
import pickle
import pickletools
import sys
import tempfile
import typing
import warnings
import zlib

from . import _engine

open = io.open  # noqa: A001  (python-diskcache exposes core.open)


class Constant(tuple):
    """Pretty display of immutable constant."""

    def __new__(cls, name):
        return tuple.__new__(cls, (name,))

    def __repr__(self):
        return '%s' % self[0]


DBNAME = 'cache.db'
ENOVAL = Constant('ENOVAL')
UNKNOWN = Constant('UNKNOWN')

MODE_NONE = 0
MODE_RAW = 1
MODE_BINARY = 2
MODE_TEXT = 3
MODE_PICKLE = 4

DEFAULT_SETTINGS = {
    'statistics': 0,  # False
    'tag_index': 0,  # False
    'eviction_policy': 'least-recently-stored',
    'size_limit': 2**30,  # 1gb
    'cull_limit': 10,
    'sqlite_auto_vacuum': 1,  # FULL
    'sqlite_cache_size': 2**13,  # 8,192 pages
    'sqlite_journal_mode': 'wal',
    'sqlite_mmap_size': 2**26,  # 64mb
    'sqlite_synchronous': 1,  # NORMAL
    'disk_min_file_size': 2**15,  # 32kb
    'disk_pickle_protocol': pickle.HIGHEST_PROTOCOL,
}

METADATA = {
    'count': 0,
    'size': 0,
    'hits': 0,
    'misses': 0,
}

# The engine implements these policies natively; the entries keep python-diskcache's shape
# (name -> {'init', 'get', 'cull'}) for code that inspects them.
EVICTION_POLICY = {
    'none': {
        'init': None,
        'get': None,
        'cull': None,
    },
    'least-recently-stored': {
        'init': 'store order',
        'get': None,
        'cull': 'oldest store first',
    },
    'least-recently-used': {
        'init': 'access order',
        'get': 'note access time',
        'cull': 'oldest access first',
    },
    'least-frequently-used': {
        'init': 'access count',
        'get': 'count access',
        'cull': 'fewest accesses first',
    },
}


class ItemInfo(typing.NamedTuple):
    """What Cache.iterinfo yields for an item, without reading its value (diskcache_swift).

    `expire_time` and `store_time` are seconds since the epoch (`expire_time` None: never
    expires); `size` is the value's size as stored, in bytes: its encoded form in the log
    (UTF-8 for str, the pickle for pickled values, 8 for int and float) or its file's size.
    """

    key: typing.Any
    expire_time: typing.Optional[float]
    tag: typing.Any
    store_time: float
    size: int


class Timeout(Exception):
    """Database timeout expired."""


class ReadOnlyError(OSError):
    """A write to a cache opened with ``read_only=True`` (diskcache_swift only).

    Raised by every method that would change the cache (set, add, delete, pop, incr, touch,
    push, pull, clear, expire, evict, cull, transact, check, a settings change ...) before it
    has any effect; also raised when a read-only open finds no cache to read (the directory
    holds none yet) or asks for settings other than the stored ones. An ``OSError`` with
    ``errno.EROFS``, so code that already handles a read-only filesystem handles it too.
    """


class UnknownFileWarning(UserWarning):
    """Warning used by Cache.check for unknown files."""


class EmptyDirWarning(UserWarning):
    """Warning used by Cache.check for empty directories."""


_engine._setup(Timeout, ReadOnlyError)


def full_name(func):
    """Return full name of `func` by adding the module and function name."""
    return func.__module__ + '.' + func.__qualname__


def args_to_key(base, args, kwargs, typed, ignore):
    """Create cache key out of function arguments.

    :param tuple base: base of key
    :param tuple args: function arguments
    :param dict kwargs: function keyword arguments
    :param bool typed: include types in cache key
    :param set ignore: positional or keyword args to ignore
    :return: cache key tuple
    """
    args = tuple(arg for index, arg in enumerate(args) if index not in ignore)
    key = base + args + (None,)
    if kwargs:
        kwargs = {name: val for name, val in kwargs.items() if name not in ignore}
        pairs = sorted(kwargs.items())
        key += tuple(part for pair in pairs for part in pair)
    if typed:
        key += tuple(type(arg) for arg in args)
        if kwargs:
            key += tuple(type(val) for _, val in sorted(kwargs.items()))
    return key


class Disk:
    """Cache key and value serialization, and value files.

    The engine applies these rules itself for this class; a subclass that overrides them is
    called for every key and value instead.
    """

    def __init__(self, directory, min_file_size=0, pickle_protocol=0):
        self._directory = directory
        self.min_file_size = min_file_size
        self.pickle_protocol = pickle_protocol

    def hash(self, key):
        """Compute portable hash for `key` (used to pick a FanoutCache shard)."""
        mask = 0xFFFFFFFF
        db_key, _ = self.put(key)
        kind = type(db_key)
        if kind is bytes:
            return zlib.adler32(db_key) & mask
        if kind is str:
            return zlib.adler32(db_key.encode('utf-8')) & mask
        if kind is int:
            return db_key % mask
        assert kind is float
        import struct

        return zlib.adler32(struct.pack('!d', db_key)) & mask

    def put(self, key):
        """Convert `key` to fields key and raw for Cache table."""
        kind = type(key)
        if kind is bytes:
            return key, True
        if kind is str or kind is float or (kind is int and -(2**63) <= key < 2**63):
            return key, True
        data = pickle.dumps(key, protocol=self.pickle_protocol)
        return pickletools.optimize(data), False

    def get(self, key, raw):
        """Convert fields `key` and `raw` from Cache table to key."""
        if raw:
            return bytes(key) if type(key) is memoryview else key
        return pickle.load(io.BytesIO(key))

    def store(self, value, read, key=UNKNOWN):
        """Convert `value` to fields size, mode, filename, and value for Cache table."""
        kind = type(value)
        limit = self.min_file_size
        if (kind is str and len(value) < limit) or kind is float or (kind is int and -(2**63) <= value < 2**63):
            return 0, MODE_RAW, None, value
        if kind is bytes:
            if len(value) < limit:
                return 0, MODE_RAW, None, value
            filename, full_path = self.filename(key, value)
            self._write(full_path, io.BytesIO(value), 'xb')
            return len(value), MODE_BINARY, filename, None
        if kind is str:
            filename, full_path = self.filename(key, value)
            size = self._write(full_path, io.StringIO(value), 'x', 'UTF-8')
            return size, MODE_TEXT, filename, None
        if read:
            filename, full_path = self.filename(key, value)
            size = self._write(full_path, value, 'xb')
            return size, MODE_BINARY, filename, None
        result = pickle.dumps(value, protocol=self.pickle_protocol)
        if len(result) < limit:
            return 0, MODE_PICKLE, None, result
        filename, full_path = self.filename(key, value)
        self._write(full_path, io.BytesIO(result), 'xb')
        return len(result), MODE_PICKLE, filename, None

    def _write(self, full_path, source, mode, encoding=None):
        chunks = iter(ft.partial(source.read, 2**22), b'' if 'b' in mode else '')
        for attempt in range(10):
            with cl.suppress(OSError):
                os.makedirs(op.dirname(full_path))
            try:
                writer = io.open(full_path, mode, encoding=encoding)
            except OSError:
                if attempt == 9:
                    raise
                continue
            break
        size = 0
        with writer:
            for chunk in chunks:
                size += len(chunk)
                writer.write(chunk)
        if encoding is not None:
            size = op.getsize(full_path)
        return size

    def fetch(self, mode, filename, value, read):
        """Convert fields `mode`, `filename`, and `value` from Cache table to value."""
        if mode == MODE_RAW:
            return bytes(value) if type(value) is memoryview else value
        if mode == MODE_BINARY:
            if read:
                return io.open(op.join(self._directory, filename), 'rb')
            with io.open(op.join(self._directory, filename), 'rb') as reader:
                return reader.read()
        if mode == MODE_TEXT:
            with io.open(op.join(self._directory, filename), 'r', encoding='UTF-8') as reader:
                return reader.read()
        if mode == MODE_PICKLE:
            if value is None:
                with io.open(op.join(self._directory, filename), 'rb') as reader:
                    return pickle.load(reader)
            return pickle.load(io.BytesIO(value))
        return None

    def filename(self, key=UNKNOWN, value=UNKNOWN):
        """Return filename and full-path tuple for file storage: 'ab/cd/<28 hex>.val'."""
        hex_name = codecs.encode(os.urandom(16), 'hex').decode('utf-8')
        sub_dir = op.join(hex_name[:2], hex_name[2:4])
        name = hex_name[4:] + '.val'
        filename = op.join(sub_dir, name)
        return filename, op.join(self._directory, filename)

    def remove(self, file_path):
        """Remove a file given by `file_path` (relative to the directory).

        The engine removes value files itself for this method; a subclass's override is
        called instead, for each value file the cache lets go of, once the write has ended.
        """
        full_path = op.join(self._directory, file_path)
        full_dir, _ = op.split(full_path)
        with cl.suppress(OSError):
            os.remove(full_path)
        with cl.suppress(OSError):
            os.removedirs(full_dir)


class JSONDisk(Disk):
    """Cache key and value using JSON serialization with zlib compression."""

    def __init__(self, directory, compress_level=1, **kwargs):
        self.compress_level = compress_level
        super().__init__(directory, **kwargs)

    def put(self, key):
        json_bytes = json.dumps(key).encode('utf-8')
        data = zlib.compress(json_bytes, self.compress_level)
        return super().put(data)

    def get(self, key, raw):
        data = super().get(key, raw)
        return json.loads(zlib.decompress(data).decode('utf-8'))

    def store(self, value, read, key=UNKNOWN):
        if not read:
            json_bytes = json.dumps(value).encode('utf-8')
            value = zlib.compress(json_bytes, self.compress_level)
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        data = super().fetch(mode, filename, value, read)
        if not read:
            data = json.loads(zlib.decompress(data).decode('utf-8'))
        return data



def _is_coroutine_function(func):
    """inspect.iscoroutinefunction without importing inspect (12 ms) where a program has not:
    then a plain or partial `async def` is told by its code's CO_COROUTINE flag."""
    inspect = sys.modules.get('inspect')
    if inspect is not None:
        return inspect.iscoroutinefunction(func)
    while isinstance(func, ft.partial):
        func = func.func
    return bool(getattr(getattr(func, '__code__', None), 'co_flags', 0) & 0x80)

def _memoize(cache, name, typed, expire, tag, ignore):
    """The decorator behind Cache.memoize and FanoutCache.memoize."""
    if callable(name):
        raise TypeError('name cannot be callable')

    def decorator(func):
        base = (full_name(func),) if name is None else (name,)

        # --- asyncio (diskcache_swift; python-diskcache #356): an async def gets an async
        # wrapper with stampede protection (see _asyncio.memoize_async). ---
        if _is_coroutine_function(func):
            from ._asyncio import memoize_async

            def key_of(*args, **kwargs):
                return args_to_key(base, args, kwargs, typed, ignore)

            return memoize_async(cache, func, key_of, expire, tag)
        # --- end asyncio ---

        @ft.wraps(func)
        def wrapper(*args, **kwargs):
            key = wrapper.__cache_key__(*args, **kwargs)
            result = cache.get(key, default=ENOVAL, retry=True)
            if result is ENOVAL:
                result = func(*args, **kwargs)
                if expire is None or expire > 0:
                    cache.set(key, result, expire, tag=tag, retry=True)
            return result

        def __cache_key__(*args, **kwargs):
            return args_to_key(base, args, kwargs, typed, ignore)

        wrapper.__cache_key__ = __cache_key__
        return wrapper

    return decorator


from ._cache import Cache  # noqa: E402,F401
