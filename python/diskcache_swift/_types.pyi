# Names the stubs share (a stub-only module: nothing imports it at run time).
import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from typing_extensions import ParamSpec

_P = ParamSpec('_P')
_R_co = TypeVar('_R_co', covariant=True)

# What a tag may be: an SQLite scalar, as python-diskcache stores it.
Tag = str | bytes | int | float | None
# A cache directory: a path (str() is applied).
Directory = str | os.PathLike[str]

class Memoized(Protocol[_P, _R_co]):
    """A function decorated by ``memoize``: the function, plus ``__cache_key__``."""

    @property
    def __wrapped__(self) -> Callable[_P, _R_co]: ...
    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R_co: ...
    def __cache_key__(self, *args: _P.args, **kwargs: _P.kwargs) -> tuple[Any, ...]: ...
