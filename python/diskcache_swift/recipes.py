"""Recipes built on the Cache API, as python-diskcache 5.6.3 ships them."""

import functools
import math
import os
import random
import threading
import time

from .core import ENOVAL, _is_coroutine_function, args_to_key, full_name


class Averager:
    """Running average of values added, kept in the cache under `key`.

    >>> import diskcache_swift
    >>> cache = diskcache_swift.FanoutCache()
    >>> ave = Averager(cache, 'latency')
    >>> ave.add(0.080)
    >>> ave.add(0.120)
    >>> ave.get()
    0.1
    """

    def __init__(self, cache, key, expire=None, tag=None):
        self._cache = cache
        self._key = key
        self._expire = expire
        self._tag = tag

    def add(self, value):
        """Add `value` to average."""
        with self._cache.transact(retry=True):
            total, count = self._cache.get(self._key, default=(0.0, 0))
            self._cache.set(self._key, (total + value, count + 1), expire=self._expire, tag=self._tag)

    def get(self):
        """Get current average or return `None` if count equals zero."""
        total, count = self._cache.get(self._key, default=(0.0, 0), retry=True)
        return None if count == 0 else total / count

    def pop(self):
        """Return current average and delete key."""
        total, count = self._cache.pop(self._key, default=(0.0, 0), retry=True)
        return None if count == 0 else total / count


class Lock:
    """Lock shared by every thread and process using the cache (spins on `add`)."""

    def __init__(self, cache, key, expire=None, tag=None):
        self._cache = cache
        self._key = key
        self._expire = expire
        self._tag = tag

    def acquire(self):
        """Acquire lock using spin-lock algorithm."""
        while not self._cache.add(self._key, None, expire=self._expire, tag=self._tag, retry=True):
            time.sleep(0.001)

    def release(self):
        """Release lock by deleting key."""
        self._cache.delete(self._key, retry=True)

    def locked(self):
        """Return true if the lock is acquired."""
        return self._key in self._cache

    def __enter__(self):
        self.acquire()

    def __exit__(self, *exc_info):
        self.release()


class RLock:
    """Re-entrant lock: owned by one thread of one process, acquired any number of times."""

    def __init__(self, cache, key, expire=None, tag=None):
        self._cache = cache
        self._key = key
        self._expire = expire
        self._tag = tag

    @staticmethod
    def _owner():
        return '{}-{}'.format(os.getpid(), threading.get_ident())

    def acquire(self):
        """Acquire lock by incrementing count using spin-lock algorithm."""
        owner = self._owner()
        while True:
            with self._cache.transact(retry=True):
                holder, count = self._cache.get(self._key, default=(None, 0))
                if count == 0 or holder == owner:
                    self._cache.set(self._key, (owner, count + 1), expire=self._expire, tag=self._tag)
                    return
            time.sleep(0.001)

    def release(self):
        """Release lock by decrementing count."""
        owner = self._owner()
        with self._cache.transact(retry=True):
            holder, count = self._cache.get(self._key, default=(None, 0))
            assert holder == owner and count > 0, 'cannot release un-acquired lock'
            self._cache.set(self._key, (holder, count - 1), expire=self._expire, tag=self._tag)

    def __enter__(self):
        self.acquire()

    def __exit__(self, *exc_info):
        self.release()


class BoundedSemaphore:
    """Semaphore shared through the cache; releasing more than acquired is an error."""

    def __init__(self, cache, key, value=1, expire=None, tag=None):
        self._cache = cache
        self._key = key
        self._value = value
        self._expire = expire
        self._tag = tag

    def acquire(self):
        """Acquire semaphore by decrementing value using spin-lock algorithm."""
        while True:
            with self._cache.transact(retry=True):
                available = self._cache.get(self._key, default=self._value)
                if available > 0:
                    self._cache.set(self._key, available - 1, expire=self._expire, tag=self._tag)
                    return
            time.sleep(0.001)

    def release(self):
        """Release semaphore by incrementing value."""
        with self._cache.transact(retry=True):
            available = self._cache.get(self._key, default=self._value)
            assert self._value > available, 'cannot release un-acquired semaphore'
            self._cache.set(self._key, available + 1, expire=self._expire, tag=self._tag)

    def __enter__(self):
        self.acquire()

    def __exit__(self, *exc_info):
        self.release()


def throttle(cache, count, seconds, name=None, expire=None, tag=None, time_func=time.time, sleep_func=time.sleep):
    """Decorator to throttle calls to `count` per `seconds` (a token bucket in the cache)."""

    def decorator(func):
        rate = count / float(seconds)
        key = full_name(func) if name is None else name
        cache.set(key, (time_func(), count), expire=expire, tag=tag, retry=True)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            while True:
                with cache.transact(retry=True):
                    last, tally = cache.get(key)
                    now = time_func()
                    tally += (now - last) * rate
                    delay = 0
                    if tally > count:
                        cache.set(key, (now, count - 1), expire)
                    elif tally >= 1:
                        cache.set(key, (now, tally - 1), expire)
                    else:
                        delay = (1 - tally) / rate
                if not delay:
                    break
                sleep_func(delay)
            return func(*args, **kwargs)

        return wrapper

    return decorator


def barrier(cache, lock_factory, name=None, expire=None, tag=None):
    """Decorator: one caller at a time, across processes, using a lock from `lock_factory`."""

    def decorator(func):
        key = full_name(func) if name is None else name
        lock = lock_factory(cache, key, expire=expire, tag=tag)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with lock:
                return func(*args, **kwargs)

        return wrapper

    return decorator


def memoize_stampede(cache, expire, name=None, typed=False, tag=None, beta=1, ignore=()):
    """Memoizing decorator with probabilistic early recomputation (cache stampede
    protection): as expiry nears, one caller recomputes in a background thread while the
    others keep getting the cached result."""

    def decorator(func):
        base = (full_name(func),) if name is None else (name,)

        def __cache_key__(*args, **kwargs):
            return args_to_key(base, args, kwargs, typed, ignore)

        # --- asyncio (diskcache_swift): an async def gets an async wrapper that recomputes in
        # a task of its loop (see _asyncio.memoize_stampede_async). ---
        if _is_coroutine_function(func):
            from ._asyncio import memoize_stampede_async

            return memoize_stampede_async(cache, func, __cache_key__, expire, tag, beta)
        # --- end asyncio ---

        def timed(*args, **kwargs):
            start = time.time()
            result = func(*args, **kwargs)
            return result, time.time() - start

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = wrapper.__cache_key__(*args, **kwargs)
            pair, expire_time = cache.get(key, default=ENOVAL, expire_time=True, retry=True)
            if pair is not ENOVAL:
                result, delta = pair
                ttl = expire_time - time.time()
                if -delta * beta * math.log(random.random()) < ttl:
                    return result
                # Only one caller starts the early recomputation.
                if cache.add(key + (ENOVAL,), None, expire=delta, retry=True):

                    def recompute():
                        with cache:
                            cache.set(key, timed(*args, **kwargs), expire=expire, tag=tag, retry=True)

                    thread = threading.Thread(target=recompute, daemon=True)
                    thread.start()
                return result
            pair = timed(*args, **kwargs)
            cache.set(key, pair, expire=expire, tag=tag, retry=True)
            return pair[0]

        wrapper.__cache_key__ = __cache_key__
        return wrapper

    return decorator
