"""FastCache: memory-only LRU with Cache's call shapes, bounded by items and by value bytes.
Checked against a plain list model under random operations, and under threads."""

import io
import pickle
import random
import threading

import pytest

from diskcache_swift import FastCache


def size_of(value):
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value.encode('utf-8'))
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class Model:
    """LRU as a list of [key, value] pairs, least recently used first."""

    def __init__(self, max_size, max_bytes):
        self.max_size, self.max_bytes = max_size, max_bytes
        self.entries = []

    def _find(self, key):
        for index, (k, _) in enumerate(self.entries):
            if k == key:
                return index
        return None

    def _bytes(self):
        return sum(size_of(v) for _, v in self.entries) if self.max_bytes is not None else 0

    def set(self, key, value):
        index = self._find(key)
        if index is not None:
            del self.entries[index]
        if self.max_bytes is None or size_of(value) <= self.max_bytes:
            self.entries.append([key, value])
        while (self.max_size is not None and len(self.entries) > self.max_size) or (
            self.max_bytes is not None and self._bytes() > self.max_bytes
        ):
            del self.entries[0]
        return True

    def get(self, key, default=None):
        index = self._find(key)
        if index is None:
            return default
        entry = self.entries.pop(index)
        self.entries.append(entry)
        return entry[1]

    def add(self, key, value):
        if self._find(key) is not None:
            return False
        return self.set(key, value)

    def pop(self, key, default=None):
        index = self._find(key)
        if index is None:
            return default
        return self.entries.pop(index)[1]

    def delete(self, key):
        return self._find(key) is not None and self.pop(key) is not None or False

    def incr(self, key, delta):
        index = self._find(key)
        value = (self.entries[index][1] if index is not None else 0) + delta
        self.set(key, value)
        return value

    def contains(self, key):
        return self._find(key) is not None


VALUES = [
    lambda r: bytes(r.randrange(256) for _ in range(r.randrange(0, 60))),
    lambda r: 'é' * r.randrange(0, 30),
    lambda r: r.randrange(-1000, 1000),
    lambda r: (r.random(), 'tuple'),
]


@pytest.mark.parametrize('seed', range(12))
def test_random_operations_match_the_model(seed):
    r = random.Random(seed)
    max_size = r.choice([None, 0, 1, 5, 20])
    max_bytes = r.choice([None, 0, 40, 200, 1000])
    cache, model = FastCache(max_size=max_size, max_bytes=max_bytes), Model(max_size, max_bytes)
    for step in range(600):
        key = r.randrange(30)
        op = r.choice(['set', 'set', 'get', 'get', 'add', 'pop', 'delete', 'incr', 'contains'])
        if op in ('set', 'add'):
            value = r.choice(VALUES)(r)
            got, want = getattr(cache, op)(key, value), getattr(model, op)(key, value)
        elif op == 'get':
            got, want = cache.get(key, 'miss'), model.get(key, 'miss')
        elif op == 'pop':
            got, want = cache.pop(key, 'miss'), model.pop(key, 'miss')
        elif op == 'delete':
            got, want = cache.delete(key), model.delete(key)
        elif op == 'incr':
            current = model.get(key, 0) if model.contains(key) else 0
            cache.get(key)  # the model's read above made the key the most recent too
            if not isinstance(current, int):
                with pytest.raises(TypeError):
                    cache.incr(key, 3)
                continue
            got, want = cache.incr(key, 3), model.incr(key, 3)
        else:
            got, want = key in cache, model.contains(key)
        assert got == want, (step, op, key)
        assert list(cache) == [k for k, _ in model.entries], (step, op, key)
        assert cache.volume() == model._bytes()
        if max_size is not None:
            assert len(cache) <= max_size
        if max_bytes is not None:
            assert cache.volume() <= max_bytes


def test_least_recently_used_goes_first():
    cache = FastCache(max_size=3)
    for key in 'abc':
        cache[key] = key
    assert cache['a'] == 'a'  # 'b' is now the least recently used
    cache['d'] = 'd'
    assert list(cache) == ['c', 'a', 'd'] and 'b' not in cache


def test_bounded_by_bytes():
    cache = FastCache(max_bytes=10)
    cache['a'] = b'12345'
    cache['b'] = '12345'
    cache['c'] = b'1'
    assert 'a' not in cache and list(cache) == ['b', 'c'] and cache.volume() == 6
    cache['big'] = b'x' * 11  # larger than the bound on its own: not kept, others stay
    assert 'big' not in cache and list(cache) == ['b', 'c']
    cache['b'] = b'x' * 11  # replacing with an oversized value drops the old one
    assert 'b' not in cache and list(cache) == ['c']
    measured = FastCache(max_bytes=100)
    measured['p'] = {'pickled': 1}
    measured['s'] = 'é'
    assert measured.volume() == len(pickle.dumps({'pickled': 1}, protocol=pickle.HIGHEST_PROTOCOL)) + 2


def test_unpicklable_value_with_max_bytes_raises_and_stores_nothing():
    cache = FastCache(max_bytes=1000)
    cache['k'] = 'kept'
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        cache.set('k', lambda: None)
    assert cache['k'] == 'kept' and len(cache) == 1
    FastCache()['f'] = lambda: None  # without a byte bound, nothing is measured


def test_call_shapes_of_cache():
    cache = FastCache()
    assert cache.set('k', 'v', expire=100, tag='t') is True
    value, expire_time, tag = cache.get('k', expire_time=True, tag=True)
    assert (value, tag) == ('v', 't') and expire_time > 0
    assert cache.get('k', tag=True) == ('v', 't')
    assert cache.get('missing', expire_time=True, tag=True) == (None, None, None)
    assert cache.get('missing', 'dflt', tag=True) == ('dflt', None)
    assert cache.add('k', 'other') is False and cache['k'] == 'v'
    assert cache.pop('k', tag=True) == ('v', 't') and cache.pop('k') is None
    with pytest.raises(KeyError):
        cache['k']
    with pytest.raises(KeyError):
        del cache['k']
    assert cache.delete('k') is False
    assert cache.incr('n') == 1 and cache.decr('n', 5) == -4
    with pytest.raises(KeyError):
        cache.incr('absent', default=None)
    cache.set('s', 'text')
    with pytest.raises(TypeError, match='not an int'):
        cache.incr('s')
    cache.set('b', b'bytes')
    handle = cache.read('b')
    assert isinstance(handle, io.BytesIO) and handle.read() == b'bytes'
    cache.set('r', io.BytesIO(b'streamed'), read=True)
    assert cache['r'] == b'streamed'
    assert sorted(cache.keys()) == ['b', 'n', 'r', 's'] and len(cache.values()) == 4
    assert dict(cache.items())['n'] == -4
    assert cache.clear() == 4 and len(cache) == 0 and cache.volume() == 0
    with cache as same:
        assert same is cache


def test_expiry():
    cache = FastCache()
    cache.set('dead', 1, expire=-1)
    cache.set('alive', 2, expire=100)
    cache.set('touched', 3)
    assert len(cache) == 3  # expired items count until met, as in Cache
    assert 'dead' not in cache and cache.get('dead') is None and len(cache) == 2
    assert cache.touch('touched', expire=-1) is True and cache.touch('nope') is False
    assert cache.items() == [('alive', 2)]
    assert cache.expire() == 1 and list(cache) == ['alive']
    cache.set('dead', 1, expire=-1)
    assert cache.add('dead', 'new') is True and cache['dead'] == 'new'


def test_incr_keeps_expiry_and_tag():
    cache = FastCache()
    cache.set('n', 1, expire=100, tag='t')
    cache.incr('n')
    value, expire_time, tag = cache.get('n', expire_time=True, tag=True)
    assert value == 2 and tag == 't' and expire_time is not None


@pytest.mark.parametrize(
    'kwargs, error, word',
    [
        ({'max_size': -1}, ValueError, 'max_size'),
        ({'max_size': 'x'}, TypeError, 'max_size'),
        ({'max_size': True}, TypeError, 'max_size'),
        ({'max_bytes': 1.5}, TypeError, 'max_bytes'),
        ({'max_bytes': -5}, ValueError, 'max_bytes'),
    ],
)
def test_bad_bounds_are_named(kwargs, error, word):
    with pytest.raises(error, match=word):
        FastCache(**kwargs)


def test_bad_arguments_are_named_and_change_nothing():
    cache = FastCache()
    cache['k'] = 1
    with pytest.raises(TypeError, match='key'):
        cache.set(['list'], 1)
    with pytest.raises(TypeError, match='key'):
        cache.get(['list'])
    with pytest.raises(TypeError, match='expire'):
        cache.set('k', 2, expire='soon')
    with pytest.raises(TypeError, match='delta'):
        cache.incr('k', 1.5)
    with pytest.raises(TypeError, match='default'):
        cache.incr('new', 1, default='0')
    assert cache.items() == [('k', 1)]


def test_threads_keep_the_bounds_and_the_byte_count():
    cache = FastCache(max_size=50, max_bytes=2000)
    errors = []

    def work(seed):
        r = random.Random(seed)
        try:
            for _ in range(3000):
                key = r.randrange(200)
                op = r.randrange(5)
                if op < 2:
                    cache.set(key, b'x' * r.randrange(100))
                elif op == 2:
                    cache.get(key)
                elif op == 3:
                    cache.delete(key)
                else:
                    cache.incr(('n', seed), 1)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 50 and cache.volume() <= 2000
    assert cache.volume() == sum(size_of(value) for value in cache.values())
