"""diskcache_swift: python-diskcache 5.6.3's API over a storage engine written in Swift.

``import diskcache_swift as diskcache`` is meant to change nothing but the speed (and to
survive many processes at once).
"""

from .core import (
    DEFAULT_SETTINGS,
    ENOVAL,
    EVICTION_POLICY,
    UNKNOWN,
    Cache,
    Disk,
    EmptyDirWarning,
    ItemInfo,
    JSONDisk,
    ReadOnlyError,
    Timeout,
    UnknownFileWarning,
)
from .fanout import FanoutCache
from .fastcache import FastCache  # noqa: F401  (ours; __all__ stays python-diskcache's)
from .persistent import Deque, Index
from .recipes import (
    Averager,
    BoundedSemaphore,
    Lock,
    RLock,
    barrier,
    memoize_stampede,
    throttle,
)

# diskcache_swift's additions (ReadOnlyError) are importable but kept out of __all__, which
# stays python-diskcache's (tests/python/test_api.py compares them).
__all__ = [
    'Averager',
    'BoundedSemaphore',
    'Cache',
    'DEFAULT_SETTINGS',
    'Deque',
    'Disk',
    'ENOVAL',
    'EVICTION_POLICY',
    'EmptyDirWarning',
    'FanoutCache',
    'Index',
    'JSONDisk',
    'Lock',
    'RLock',
    'Timeout',
    'UNKNOWN',
    'UnknownFileWarning',
    'barrier',
    'memoize_stampede',
    'throttle',
]

# diskcache_swift additions are importable by name but left out of __all__, which stays
# python-diskcache's (``from diskcache import *`` gives the same names).

try:
    from .djangocache import DjangoCache  # noqa

    __all__.append('DjangoCache')
except Exception:  # pragma: no cover
    # Django not installed or not setup so ignore.
    pass

__title__ = 'diskcache'
__version__ = '5.6.3'
__build__ = 0x050603
__author__ = 'diskcache-swift developers'
__license__ = 'Apache 2.0'
__copyright__ = 'Copyright 2026 diskcache-swift developers'
__engine_version__ = '0.1.0'
