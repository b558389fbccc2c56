"""asyncio methods of Cache and FanoutCache, and memoize on ``async def`` (diskcache_swift
only; python-diskcache #356).

Each ``a``-method takes the parameters of its synchronous namesake and returns what it
returns. It first makes the call on the event loop's thread with the engine's "attempt
without waiting" mode on (``_engine.attempt``): the common uncontended call completes there,
with no thread hop. A call that would wait -- another thread or process holds the cache's
lock, a value in a file of its own, network-mode I/O, catching up with much of another
process's writing -- is refused by the engine before it has any effect, and is made again in
the loop's default executor, so the loop never blocks. A cache with a custom ``Disk`` (whose
Python code may block) always goes to the executor.
"""

import functools
import math
import random
import sys
import time

from . import _engine
from .core import ENOVAL

_attempt = _engine.attempt


# asyncio is not imported here (60 ms, most of this package's import time): a coroutine runs
# only once the caller's program has imported it.
async def _off_loop(call, *args):
    return await sys.modules['asyncio'].get_running_loop().run_in_executor(None, functools.partial(call, *args))


class AsyncMethods:
    """The asyncio methods, mixed into Cache and FanoutCache (which define the sync ones and
    ``_async_direct``: False when a custom Disk's Python code may block)."""

    __slots__ = ()

    # Spelled out rather than generated: fixed parameters cost less per call than *args and
    # **kwargs passed on, and show the sync methods' signatures.

    async def aget(self, key, default=None, read=False, expire_time=False, tag=False, retry=False):
        """`get` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.get, key, default, read, expire_time, tag, retry)
            if done:
                return result
        return await _off_loop(self.get, key, default, read, expire_time, tag, retry)

    async def aset(self, key, value, expire=None, read=False, tag=None, retry=False):
        """`set` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.set, key, value, expire, read, tag, retry)
            if done:
                return result
        return await _off_loop(self.set, key, value, expire, read, tag, retry)

    async def aadd(self, key, value, expire=None, read=False, tag=None, retry=False):
        """`add` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.add, key, value, expire, read, tag, retry)
            if done:
                return result
        return await _off_loop(self.add, key, value, expire, read, tag, retry)

    async def adelete(self, key, retry=False):
        """`delete` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.delete, key, retry)
            if done:
                return result
        return await _off_loop(self.delete, key, retry)

    async def apop(self, key, default=None, expire_time=False, tag=False, retry=False):
        """`pop` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.pop, key, default, expire_time, tag, retry)
            if done:
                return result
        return await _off_loop(self.pop, key, default, expire_time, tag, retry)

    async def aincr(self, key, delta=1, default=0, retry=False):
        """`incr` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.incr, key, delta, default, retry)
            if done:
                return result
        return await _off_loop(self.incr, key, delta, default, retry)

    async def adecr(self, key, delta=1, default=0, retry=False):
        """`decr` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.decr, key, delta, default, retry)
            if done:
                return result
        return await _off_loop(self.decr, key, delta, default, retry)

    async def atouch(self, key, expire=None, retry=False):
        """`touch` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.touch, key, expire, retry)
            if done:
                return result
        return await _off_loop(self.touch, key, expire, retry)

    async def aget_many(self, keys, default=None, read=False, expire_time=False, tag=False, retry=False):
        """`get_many` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.get_many, keys, default, read, expire_time, tag, retry)
            if done:
                return result
        return await _off_loop(self.get_many, keys, default, read, expire_time, tag, retry)

    async def aset_many(self, items, expire=None, read=False, tag=None, retry=False):
        """`set_many` for asyncio: the same parameters and result; never blocks the event loop."""
        if self._async_direct:
            done, result = _attempt(self.set_many, items, expire, read, tag, retry)
            if done:
                return result
        return await _off_loop(self.set_many, items, expire, read, tag, retry)


async def _once(inflight, key, compute):
    """``await compute()`` once among this loop's concurrent callers for `key`: the first
    computes, the others await its result (or its exception). A caller whose computation is
    cancelled hands over to a waiting caller. `inflight` maps (loop, key) to the pending
    future; an unhashable key makes each caller compute."""
    asyncio = sys.modules['asyncio']
    loop = asyncio.get_running_loop()
    flight = (loop, key)
    try:
        hash(flight)
    except TypeError:
        flight = None
    while flight is not None and flight in inflight:
        pending = inflight[flight]
        # Raises only if this caller is cancelled; a cancelled computation is retried.
        await asyncio.wait([pending])
        if not pending.cancelled():
            return pending.result()
    future = loop.create_future()
    if flight is not None:
        inflight[flight] = future
    try:
        result = await compute()
    except asyncio.CancelledError:
        future.cancel()
        raise
    except BaseException as error:
        future.set_exception(error)
        future.exception()  # retrieved: no warning when nobody else waited
        raise
    else:
        future.set_result(result)
    finally:
        if flight is not None:
            del inflight[flight]
    return result


def memoize_async(cache, func, key_of, expire, tag):
    """`Cache.memoize` for an ``async def`` `func`: an async wrapper.

    Stampede protection: concurrent callers of one key in a process (on one event loop)
    share one computation (`_once`). Across processes each process computes at most once per
    key at a time.
    """
    inflight = {}

    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        key = key_of(*args, **kwargs)
        result = await cache.aget(key, default=ENOVAL, retry=True)
        if result is not ENOVAL:
            return result

        async def compute():
            value = await func(*args, **kwargs)
            if expire is None or expire > 0:
                await cache.aset(key, value, expire, tag=tag, retry=True)
            return value

        return await _once(inflight, key, compute)

    wrapper.__cache_key__ = key_of
    return wrapper


def memoize_stampede_async(cache, func, key_of, expire, tag, beta):
    """`recipes.memoize_stampede` for an ``async def`` `func`: the same probabilistic early
    recomputation (as expiry nears, one caller in all processes -- the one whose `add` of the
    marker key succeeds -- recomputes in a task of its loop while every caller keeps getting
    the cached result), and on a miss this process's concurrent callers share one computation.
    """
    inflight = {}
    background = set()  # the loop keeps only weak references to tasks

    async def timed(args, kwargs):
        start = time.time()
        result = await func(*args, **kwargs)
        return result, time.time() - start

    async def store(key, args, kwargs):
        pair = await timed(args, kwargs)
        await cache.aset(key, pair, expire=expire, tag=tag, retry=True)
        return pair

    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        key = key_of(*args, **kwargs)
        pair, expire_time = await cache.aget(key, default=ENOVAL, expire_time=True, retry=True)
        if pair is not ENOVAL:
            result, delta = pair
            ttl = expire_time - time.time()
            if -delta * beta * math.log(random.random()) < ttl:
                return result
            if await cache.aadd(key + (ENOVAL,), None, expire=delta, retry=True):
                task = sys.modules['asyncio'].get_running_loop().create_task(store(key, args, kwargs))
                background.add(task)
                task.add_done_callback(background.discard)
            return result
        pair = await _once(inflight, key, lambda: store(key, args, kwargs))
        return pair[0]

    wrapper.__cache_key__ = key_of
    return wrapper
