"""diskcache_swift: a drop-in replacement for python-diskcache backed by a Swift engine."""
