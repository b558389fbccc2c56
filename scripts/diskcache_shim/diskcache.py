"""Maps ``import diskcache`` (and its submodules) to diskcache_swift.

Put this directory first on ``sys.path`` (e.g. ``PYTHONPATH=scripts/diskcache_shim``) to run an
application that imports python-diskcache on diskcache_swift instead, unchanged
(scripts/apps.sh does). Importing it replaces this module by diskcache_swift itself, so
``diskcache.Cache is diskcache_swift.Cache`` and ``diskcache.core`` is ``diskcache_swift.core``.
"""

import importlib
import sys

import diskcache_swift

for _name in ('core', 'fanout', 'persistent', 'recipes', 'djangocache'):
    try:
        sys.modules['diskcache.' + _name] = importlib.import_module('diskcache_swift.' + _name)
    except ImportError:  # djangocache without Django, as python-diskcache's package allows
        pass
sys.modules[__name__] = diskcache_swift
