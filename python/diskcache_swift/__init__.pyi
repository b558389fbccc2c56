# Types of the diskcache_swift package: python-diskcache 5.6.3's names, plus FastCache,
# ItemInfo and ReadOnlyError.
from ._cache import Cache as Cache
from .core import (
    DEFAULT_SETTINGS as DEFAULT_SETTINGS,
    ENOVAL as ENOVAL,
    EVICTION_POLICY as EVICTION_POLICY,
    UNKNOWN as UNKNOWN,
    Disk as Disk,
    EmptyDirWarning as EmptyDirWarning,
    ItemInfo as ItemInfo,
    JSONDisk as JSONDisk,
    ReadOnlyError as ReadOnlyError,
    Timeout as Timeout,
    UnknownFileWarning as UnknownFileWarning,
)
from .djangocache import DjangoCache as DjangoCache
from .fanout import FanoutCache as FanoutCache
from .fastcache import FastCache as FastCache
from .persistent import Deque as Deque, Index as Index
from .recipes import (
    Averager as Averager,
    BoundedSemaphore as BoundedSemaphore,
    Lock as Lock,
    RLock as RLock,
    barrier as barrier,
    memoize_stampede as memoize_stampede,
    throttle as throttle,
)

__all__: list[str]
__title__: str
__version__: str
__build__: int
__author__: str
__license__: str
__copyright__: str
__engine_version__: str
