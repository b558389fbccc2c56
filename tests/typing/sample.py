"""A program that uses every class of diskcache_swift's public API, with annotations.

tests/python/test_typing.py type-checks it with `mypy --strict` and `pyright` (against the
package's .pyi stubs) and runs it. Each annotated assignment below is a claim about a type
that the checkers verify.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import threading
import warnings
from typing import Any

import diskcache_swift
from diskcache_swift import (
    DEFAULT_SETTINGS,
    ENOVAL,
    EVICTION_POLICY,
    UNKNOWN,
    Averager,
    BoundedSemaphore,
    Cache,
    Deque,
    Disk,
    EmptyDirWarning,
    FanoutCache,
    FastCache,
    Index,
    ItemInfo,
    JSONDisk,
    Lock,
    ReadOnlyError,
    RLock,
    Timeout,
    UnknownFileWarning,
    barrier,
    memoize_stampede,
    throttle,
)
from diskcache_swift.core import args_to_key, full_name


class PrefixDisk(Disk):
    """A Disk subclass, as applications write them."""

    def put(self, key: Any) -> tuple[Any, bool]:
        return super().put(key)


def use_cache(directory: str) -> None:
    with Cache(directory, disk=PrefixDisk, size_limit=2**20, max_entries=1000) as cache:
        stored: bool = cache.set('k', 'v', expire=60, tag='t')
        assert stored
        cache['n'] = 1
        assert cache.add('k', 'other') is False
        value: Any = cache.get('k', default=None, expire_time=True, tag=True)
        assert value[0] == 'v' and value[2] == 't'
        assert cache['k'] == 'v' and 'k' in cache
        count: int = cache.incr('n', 2)
        count = cache.decr('n')
        assert count == 2
        assert cache.touch('k', expire=None)
        cache.set('blob', b'x' * 100_000)
        with cache.read('blob') as handle:
            assert len(handle.read()) == 100_000
        cache.set('stream', io.BytesIO(b'streamed'), read=True)
        key = cache.push('queued', prefix='q', side='back')
        assert isinstance(key, str)
        assert cache.peek(prefix='q')[1] == 'queued'
        assert cache.pull(prefix='q')[1] == 'queued'
        assert cache.peekitem(last=True)[0] == 'stream'
        with cache.transact():
            cache.set('a', 1)
            cache.set('b', 2)
        assert cache.pop('a') == 1 and cache.delete('b') and not cache.delete('b')
        del cache['n']
        size: int = len(cache)
        keys_in_order = list(cache)
        assert size == len(keys_in_order) and list(reversed(cache)) == keys_in_order[::-1]
        assert sorted(cache.iterkeys()) == sorted(keys_in_order)
        hits, misses = cache.stats(enable=True)
        assert hits >= 0 and misses >= 0
        volume: int = cache.volume()
        assert volume > 0
        found: list[warnings.WarningMessage] = cache.check()
        assert isinstance(found, list)
        cache.create_tag_index()
        cache.drop_tag_index()
        limit: Any = cache.reset('size_limit')
        assert limit == 2**20
        directory_name: str = cache.directory
        timeout: float = cache.timeout
        disk: Disk = cache.disk
        network: bool = cache.network
        assert directory_name == directory and timeout == 60 and isinstance(disk, PrefixDisk) and not network

        # Batches and listing.
        stored_count: int = cache.set_many({'m1': 1, 'm2': 2}, tag='many')
        stored_count += cache.set_many([('m3', 3)], expire=60)
        found_many: dict[Any, Any] = cache.get_many(['m1', 'm2', 'm3', 'absent'])
        assert stored_count == 3 and found_many == {'m1': 1, 'm2': 2, 'm3': 3}
        assert sorted(cache.iterkeys_by_tag('many')) == ['m1', 'm2']
        infos: list[ItemInfo] = list(cache.iterinfo())
        assert all(isinstance(info.size, int) for info in infos)
        assert cache.exists('m1') and 'm1' in cache.keys()
        assert 1 in cache.values() and ('m1', 1) in cache.items()
        removed: int = cache.delete_many(['m1', 'm2', 'absent'])
        assert removed == 2
        cache.vacuum()

        memoized_calls: list[int] = []

        @cache.memoize(expire=60, tag='memo')
        def square(x: int) -> int:
            memoized_calls.append(x)
            return x * x

        result: int = square(3)
        assert square(3) == result == 9 and memoized_calls == [3]
        assert square.__cache_key__(3)[-2:] == (3, None)

        async def use_async() -> None:
            assert await cache.aset('async', 1)
            assert await cache.aadd('async2', 2)
            got: Any = await cache.aget('async')
            assert got == 1
            total: int = await cache.aincr('async', 5)
            total = await cache.adecr('async', 1)
            assert total == 5
            assert await cache.atouch('async', expire=60)
            assert await cache.aset_many({'x': 1}) == 1
            assert await cache.aget_many(['x']) == {'x': 1}
            assert await cache.apop('x') == 1
            assert await cache.adelete('async2')

            @cache.memoize()
            async def fetch(x: int) -> str:
                return str(x)

            text: str = await fetch(4)
            assert text == '4' and await fetch(4) == '4'

        asyncio.run(use_async())
        evicted: int = cache.evict('t')
        expired: int = cache.expire()
        culled: int = cache.cull()
        cleared: int = cache.clear()
        assert evicted >= 0 and expired >= 0 and culled >= 0 and cleared >= 0

    with Cache(directory, read_only=True) as frozen:
        try:
            frozen.set('k', 1)
        except ReadOnlyError as error:
            oserror: OSError = error
            assert oserror.errno is not None
        else:
            raise AssertionError('a read-only cache took a write')


def use_fanout(directory: str) -> None:
    with Cache(directory + '-json', disk=JSONDisk) as json_cache:
        assert json_cache.set('k', {'json': [1, 2]})
        assert json_cache.get('k') == {'json': [1, 2]}
    with FanoutCache(directory, shards=4, timeout=1.0) as cache:
        assert cache.set('k', {'any': [1, 2]})
        assert cache.get('k') == {'any': [1, 2]}
        new_count: int | None = cache.incr('n')
        assert new_count == 1
        cache.set_many({'a': 1, 'b': 2})
        assert cache.get_many(['a', 'b']) == {'a': 1, 'b': 2}
        assert cache.delete_many(['a']) == 1
        assert sorted(cache.keys()) == ['b', 'k', 'n']
        cache.push(1, prefix='q')
        assert cache.peek(prefix='q')[1] == 1 and cache.pull(prefix='q')[1] == 1
        assert cache.peekitem()[0] is not None
        sub: Cache = cache.cache('sub')
        sub['x'] = 1
        queue: Deque = cache.deque('queue', maxlen=3)
        queue.append(1)
        table: Index = cache.index('table')
        table['y'] = 2
        size_limit: Any = cache.size_limit
        assert size_limit == 2**30 // 4 or size_limit == 2**30 / 4
        assert len(cache) == 3 and cache.volume() > 0

        async def use_async() -> None:
            assert await cache.aset('async', 1)
            assert await cache.aget('async') == 1
            total: int | None = await cache.aincr('async')
            assert total == 2

        asyncio.run(use_async())
        assert cache.clear() >= 3


def use_deque_and_index(directory: str) -> None:
    with Deque([1, 2, 3], directory=directory + '/deque', maxlen=10) as deque:
        deque.appendleft(0)
        deque.extend([4, 5])
        assert deque[0] == 0 and deque.peek() == 5 and deque.popleft() == 0
        deque.rotate(1)
        deque.reverse()
        assert len(deque) == 5 and deque.count(1) == 1
        maxlen: float = deque.maxlen
        assert maxlen == 10
        copy: Deque = deque.copy()
        assert copy == deque
    with Index(directory + '/index', {'a': 1}, b=2) as index:
        index['c'] = 3
        assert index.setdefault('d', 4) == 4
        assert list(index.keys()) == ['a', 'b', 'c', 'd']
        last: tuple[Any, Any] = index.peekitem()
        assert last == ('d', 4) and index.popitem() == ('d', 4)
        assert index.pop('c') == 3

        @index.memoize()
        def double(x: int) -> int:
            return 2 * x

        doubled: int = double(2)
        assert doubled == 4
        with index.transact():
            index['e'] = 5
        assert Index.fromcache(index.cache) == index


def use_recipes(directory: str) -> None:
    cache = Cache(directory + '/recipes')
    averager = Averager(cache, 'avg')
    averager.add(1.0)
    averager.add(3.0)
    mean: float | None = averager.get()
    assert mean == 2.0 and averager.pop() == 2.0
    lock = Lock(cache, 'lock', expire=10)
    with lock:
        assert lock.locked()
    rlock = RLock(cache, 'rlock')
    with rlock:
        with rlock:
            pass
    semaphore = BoundedSemaphore(cache, 'sem', value=2)
    with semaphore:
        pass

    @throttle(cache, count=100, seconds=1)
    def ping() -> str:
        return 'pong'

    pong: str = ping()
    assert pong == 'pong'

    @barrier(cache, Lock)
    def exclusive(x: int) -> int:
        return x + 1

    assert exclusive(1) == 2

    @memoize_stampede(cache, expire=60)
    def slow(x: int) -> int:
        return x * 10

    tens: int = slow(2)
    assert tens == 20 and slow.__cache_key__(2)[-2:] == (2, None)
    cache.close()


def use_fastcache() -> None:
    with FastCache(max_size=2, max_bytes=1000) as cache:
        assert cache.set('a', b'1') and cache.add('b', 'two')
        cache['c'] = 3
        assert 'a' not in cache and len(cache) == 2
        got: Any = cache.get('b', tag=True)
        assert got == ('two', None)
        assert cache.incr('c') == 4 and cache.pop('c') == 4
        assert cache.delete('b') and cache.clear() == 0
        assert cache.max_size == 2 and cache.max_bytes == 1000 and cache.volume() == 0


def use_module_names() -> None:
    assert ENOVAL is not UNKNOWN and repr(ENOVAL) == 'ENOVAL'
    assert DEFAULT_SETTINGS['size_limit'] == 2**30 and 'none' in EVICTION_POLICY
    assert issubclass(Timeout, Exception) and issubclass(ReadOnlyError, OSError)
    assert issubclass(EmptyDirWarning, UserWarning) and issubclass(UnknownFileWarning, UserWarning)
    key: tuple[Any, ...] = args_to_key(('base',), (1,), {}, False, set())
    assert key == ('base', 1, None) and full_name(use_module_names).endswith('use_module_names')
    version: str = diskcache_swift.__version__
    assert version == '5.6.3'
    info = ItemInfo('k', None, None, 0.0, 1)
    assert info.key == 'k'


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        use_cache(directory + '/cache')
        use_fanout(directory + '/fanout')
        use_deque_and_index(directory)
        use_recipes(directory)
    use_fastcache()
    use_module_names()
    worker = threading.Thread(target=use_fastcache)
    worker.start()
    worker.join()
    print('sample: ok')


if __name__ == '__main__':
    main()
