"""Persistent data types: Deque and Index, as in python-diskcache, over diskcache_swift."""

import operator as op
from collections import OrderedDict
from collections.abc import (
    ItemsView,
    KeysView,
    MutableMapping,
    Sequence,
    ValuesView,
)
from contextlib import contextmanager
from shutil import rmtree

from .core import ENOVAL, Cache
from ._pickling import KeepsOpenOptions


def _sequence_comparison(compare, description):
    """A rich comparison against any Sequence with list semantics (element by element,
    then by length)."""

    def method(self, other):
        if not isinstance(other, Sequence):
            return NotImplemented
        if compare in (op.eq, op.ne) and len(self) != len(other):
            return compare is op.ne
        return compare(list(self), list(other))

    method.__name__ = '__%s__' % compare.__name__
    method.__doc__ = 'Return True if and only if deque is %s `other`.' % description
    return method


class _ClosingCache(KeepsOpenOptions):
    """What Deque and Index share as wrappers of a Cache (diskcache_swift additions): close(),
    ``with``, and the open option pickling keeps beside their state (_pickling)."""

    @property
    def _open_options(self):
        return {'read_only': True} if self._cache.read_only else {}

    def close(self):
        """Close the underlying cache's files; the next use reopens them."""
        self._cache.close()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


class Deque(Sequence, _ClosingCache):
    """Persistent sequence with double-ended queue semantics."""

    def __init__(self, iterable=(), directory=None, maxlen=None, read_only=False):
        # read_only (diskcache_swift only): see Cache; Index takes items as keywords, so a
        # read-only Index is Index.fromcache(Cache(directory, read_only=True)).
        self._cache = Cache(directory, eviction_policy='none', **({'read_only': True} if read_only else {}))
        self._maxlen = float('inf') if maxlen is None else maxlen
        self._extend(iterable)

    @classmethod
    def fromcache(cls, cache, iterable=(), maxlen=None):
        """Initialize deque using `cache`."""
        self = cls.__new__(cls)
        self._cache = cache
        self._maxlen = float('inf') if maxlen is None else maxlen
        self._extend(iterable)
        return self

    @property
    def cache(self):
        """Cache used by deque."""
        return self._cache

    @property
    def directory(self):
        """Directory path where deque is stored."""
        return self._cache.directory

    @property
    def maxlen(self):
        """Max length of the deque."""
        return self._maxlen

    @maxlen.setter
    def maxlen(self, value):
        """Set max length of the deque: pops items from left while length greater than max."""
        self._maxlen = value
        with self._cache.transact(retry=True):
            while len(self._cache) > self._maxlen:
                self._popleft()

    def _index(self, index, func):
        len_self = len(self)
        if index >= 0:
            if index >= len_self:
                raise IndexError('deque index out of range')
            for key in self._cache.iterkeys():
                if index == 0:
                    try:
                        return func(key)
                    except KeyError:
                        continue
                index -= 1
        else:
            if index < -len_self:
                raise IndexError('deque index out of range')
            index += 1
            for key in self._cache.iterkeys(reverse=True):
                if index == 0:
                    try:
                        return func(key)
                    except KeyError:
                        continue
                index += 1
        raise IndexError('deque index out of range')

    def __getitem__(self, index):
        return self._index(index, self._cache.__getitem__)

    def __setitem__(self, index, value):
        def _set_value(key):
            return self._cache.__setitem__(key, value)

        self._index(index, _set_value)

    def __delitem__(self, index):
        self._index(index, self._cache.__delitem__)

    def __repr__(self):
        name = type(self).__name__
        return '{0}(directory={1!r})'.format(name, self.directory)

    __eq__ = _sequence_comparison(op.eq, 'equal to')
    __ne__ = _sequence_comparison(op.ne, 'not equal to')
    __lt__ = _sequence_comparison(op.lt, 'less than')
    __gt__ = _sequence_comparison(op.gt, 'greater than')
    __le__ = _sequence_comparison(op.le, 'less than or equal to')
    __ge__ = _sequence_comparison(op.ge, 'greater than or equal to')

    def __iadd__(self, iterable):
        self._extend(iterable)
        return self

    def __iter__(self):
        for key in self._cache.iterkeys():
            try:
                yield self._cache[key]
            except KeyError:
                pass

    def __len__(self):
        return len(self._cache)

    def __reversed__(self):
        for key in self._cache.iterkeys(reverse=True):
            try:
                yield self._cache[key]
            except KeyError:
                pass

    def __getstate__(self):
        return self.directory, self.maxlen

    def __setstate__(self, state):
        directory, maxlen = state
        self.__init__(directory=directory, maxlen=maxlen, **self._unpickled_options())

    def append(self, value):
        """Add `value` to back of deque."""
        self._append(value)

    def _append(self, value):
        with self._cache.transact(retry=True):
            self._cache.push(value, retry=True)
            if len(self._cache) > self._maxlen:
                self._popleft()

    def appendleft(self, value):
        """Add `value` to front of deque."""
        self._appendleft(value)

    def _appendleft(self, value):
        with self._cache.transact(retry=True):
            self._cache.push(value, side='front', retry=True)
            if len(self._cache) > self._maxlen:
                self._pop()

    def clear(self):
        """Remove all elements from deque."""
        self._clear()

    def _clear(self):
        self._cache.clear(retry=True)

    def copy(self):
        """Copy deque with same directory and max length."""
        TypeSelf = type(self)
        return TypeSelf(directory=self.directory, maxlen=self.maxlen)

    def count(self, value):
        """Return number of occurrences of `value` in deque."""
        return sum(1 for item in self if value == item)

    def extend(self, iterable):
        """Extend back side of deque with values from `iterable`."""
        self._extend(iterable)

    def _extend(self, iterable):
        for value in iterable:
            self._append(value)

    def extendleft(self, iterable):
        """Extend front side of deque with value from `iterable`."""
        for value in iterable:
            self._appendleft(value)

    def _take(self, side, remove, verb):
        """The value at one end; removed when `remove`. IndexError when empty."""
        take = self._cache.pull if remove else self._cache.peek
        _, value = take(default=(None, ENOVAL), side=side, retry=True)
        if value is ENOVAL:
            raise IndexError('%s from an empty deque' % verb)
        return value

    def peek(self):
        """Peek at value at back of deque."""
        return self._take('back', False, 'peek')

    def peekleft(self):
        """Peek at value at front of deque."""
        return self._take('front', False, 'peek')

    def pop(self):
        """Remove and return value at back of deque."""
        return self._pop()

    def _pop(self):
        return self._take('back', True, 'pop')

    def popleft(self):
        """Remove and return value at front of deque."""
        return self._popleft()

    def _popleft(self):
        return self._take('front', True, 'pop')

    def remove(self, value):
        """Remove first occurrence of `value` in deque."""
        _cache = self._cache
        for key in _cache.iterkeys():
            try:
                item = _cache[key]
            except KeyError:
                continue
            else:
                if value == item:
                    try:
                        del _cache[key]
                    except KeyError:
                        continue
                    return
        raise ValueError('deque.remove(value): value not in deque')

    def reverse(self):
        """Reverse deque in place."""
        # Values are moved through a temporary deque, as python-diskcache does.
        temp = Deque(iterable=reversed(self))
        self._clear()
        self._extend(temp)
        directory = temp.directory
        temp._cache.close()
        del temp
        rmtree(directory)

    def rotate(self, steps=1):
        """Rotate deque right by `steps`; negative steps rotate left."""
        if not isinstance(steps, int):
            type_name = type(steps).__name__
            raise TypeError('integer argument expected, got %s' % type_name)
        len_self = len(self)
        if not len_self:
            return
        if steps >= 0:
            steps %= len_self
            for _ in range(steps):
                try:
                    value = self._pop()
                except IndexError:
                    return
                else:
                    self._appendleft(value)
        else:
            steps *= -1
            steps %= len_self
            for _ in range(steps):
                try:
                    value = self._popleft()
                except IndexError:
                    return
                else:
                    self._append(value)

    __hash__ = None  # type: ignore

    @contextmanager
    def transact(self):
        """Context manager to perform a transaction by locking the deque."""
        with self._cache.transact(retry=True):
            yield


class Index(MutableMapping, _ClosingCache):
    """Persistent mutable mapping with insertion order iteration."""

    def __init__(self, *args, **kwargs):
        if args and isinstance(args[0], (bytes, str)):
            directory = args[0]
            args = args[1:]
        else:
            if args and args[0] is None:
                args = args[1:]
            directory = None
        self._cache = Cache(directory, eviction_policy='none')
        self._update(*args, **kwargs)

    _update = MutableMapping.update

    @classmethod
    def fromcache(cls, cache, *args, **kwargs):
        """Initialize index using `cache` and update items."""
        self = cls.__new__(cls)
        self._cache = cache
        self._update(*args, **kwargs)
        return self

    @property
    def cache(self):
        """Cache used by index."""
        return self._cache

    @property
    def directory(self):
        """Directory path where items are stored."""
        return self._cache.directory

    def __getitem__(self, key):
        return self._cache[key]

    def __setitem__(self, key, value):
        self._cache[key] = value

    def __delitem__(self, key):
        del self._cache[key]

    def setdefault(self, key, default=None):
        """Set and get value for `key` in index using `default`."""
        _cache = self._cache
        while True:
            try:
                return _cache[key]
            except KeyError:
                _cache.add(key, default, retry=True)

    def peekitem(self, last=True):
        """Peek at key and value item pair in index based on iteration order."""
        return self._cache.peekitem(last, retry=True)

    def pop(self, key, default=ENOVAL):
        """Remove corresponding item for `key` from index and return value."""
        _cache = self._cache
        value = _cache.pop(key, default=default, retry=True)
        if value is ENOVAL:
            raise KeyError(key)
        return value

    def popitem(self, last=True):
        """Remove and return item pair."""
        _cache = self._cache
        with _cache.transact(retry=True):
            key, value = _cache.peekitem(last=last)
            del _cache[key]
        return key, value

    def push(self, value, prefix=None, side='back'):
        """Push `value` onto `side` of queue in index identified by `prefix`."""
        return self._cache.push(value, prefix, side, retry=True)

    def pull(self, prefix=None, default=(None, None), side='front'):
        """Pull key and value item pair from `side` of queue in index."""
        return self._cache.pull(prefix, default, side, retry=True)

    def clear(self):
        """Remove all items from index."""
        self._cache.clear(retry=True)

    def __iter__(self):
        return iter(self._cache)

    def __reversed__(self):
        return reversed(self._cache)

    def __len__(self):
        return len(self._cache)

    def keys(self):
        """Set-like object providing a view of index keys."""
        return KeysView(self)

    def values(self):
        """Set-like object providing a view of index values."""
        return ValuesView(self)

    def items(self):
        """Set-like object providing a view of index items."""
        return ItemsView(self)

    __hash__ = None  # type: ignore

    def __getstate__(self):
        return self.directory

    def __setstate__(self, state):
        options = self._unpickled_options()
        if options:
            # Index takes items as keywords: a read-only one is opened as fromcache opens it.
            self._cache = Cache(state, eviction_policy='none', **options)
        else:
            self.__init__(state)

    def __eq__(self, other):
        if len(self) != len(other):
            return False
        if isinstance(other, (Index, OrderedDict)):
            alpha = ((key, self[key]) for key in self)
            beta = ((key, other[key]) for key in other)
            pairs = zip(alpha, beta)
            return not any(a != x or b != y for (a, b), (x, y) in pairs)
        return all(self[key] == other.get(key, ENOVAL) for key in self)

    def __ne__(self, other):
        return not self == other

    def memoize(self, name=None, typed=False, ignore=()):
        """Memoizing cache decorator (no expiry or tags: an Index never evicts)."""
        return self._cache.memoize(name=name, typed=typed, ignore=ignore)

    @contextmanager
    def transact(self):
        """Context manager to perform a transaction by locking the index."""
        with self._cache.transact(retry=True):
            yield

    def __repr__(self):
        name = type(self).__name__
        return '{0}({1!r})'.format(name, self.directory)
