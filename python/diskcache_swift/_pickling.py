"""Pickling that keeps diskcache_swift's own open options (read_only, network, network_lease).

Cache, FanoutCache and Deque pickle the state python-diskcache pickles, exactly: what their
``__getstate__`` returns, which subclasses extend and whose ``__init__`` takes it positionally
(dvc-data's does). Options python-diskcache has no slot for travel beside that state, only
when they differ from the defaults, and unpickling passes them to ``__init__`` as keywords:
an unpickled read-only cache is read-only again, and a pickle of a cache opened with default
options is the same as before.
"""


def open_options(network=None, network_lease=30.0, read_only=False):
    """The options that differ from their defaults, as keywords for ``__init__``."""
    options = {}
    if network is not None:
        options['network'] = bool(network)
    if float(network_lease) != 30.0:
        options['network_lease'] = float(network_lease)
    if read_only:
        options['read_only'] = True
    return options


def _rebuild(cls, options):
    obj = cls.__new__(cls)
    obj.__dict__['_pickled_open_options'] = options
    return obj


class KeepsOpenOptions:
    """Mixin: ``__reduce_ex__`` adds ``self._open_options``; ``__setstate__`` implementations
    pass ``self._unpickled_options()`` to ``__init__``."""

    _open_options: 'dict[str, object]' = {}

    def __reduce_ex__(self, protocol):
        if not self._open_options:
            return super().__reduce_ex__(protocol)
        return (_rebuild, (type(self), dict(self._open_options)), self.__getstate__())

    def _unpickled_options(self):
        return self.__dict__.pop('_pickled_open_options', {})
