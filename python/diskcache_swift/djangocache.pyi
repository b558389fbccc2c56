# Types of diskcache_swift.DjangoCache. At run time it subclasses Django's
# django.core.cache.backends.base.BaseCache (importing this module needs Django); the stub
# does not name that base so that type checking needs no Django stubs: the methods it adds
# are typed here, those it inherits from BaseCache (make_key, get_many, ...) are not.
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from typing_extensions import ParamSpec

from ._types import Directory, Memoized, Tag
from ._cache import Cache
from .persistent import Deque, Index

_P = ParamSpec('_P')
_R = TypeVar('_R')

class DjangoCache:
    """Django-compatible disk and file backed cache."""

    default_timeout: float | None
    def __init__(self, directory: Directory, params: dict[str, Any]) -> None: ...
    @property
    def directory(self) -> str: ...
    def cache(self, name: str) -> Cache: ...
    def deque(self, name: str, maxlen: int | None = None) -> Deque: ...
    def index(self, name: str) -> Index: ...
    def add(
        self,
        key: Any,
        value: Any,
        timeout: Any = ...,
        version: int | None = None,
        read: bool = False,
        tag: Tag = None,
        retry: bool = True,
    ) -> bool: ...
    def get(
        self,
        key: Any,
        default: Any = None,
        version: int | None = None,
        read: bool = False,
        expire_time: bool = False,
        tag: bool = False,
        retry: bool = False,
    ) -> Any: ...
    def read(self, key: Any, version: int | None = None) -> Any: ...
    def set(
        self,
        key: Any,
        value: Any,
        timeout: Any = ...,
        version: int | None = None,
        read: bool = False,
        tag: Tag = None,
        retry: bool = True,
    ) -> bool: ...
    def touch(self, key: Any, timeout: Any = ..., version: int | None = None, retry: bool = True) -> bool: ...
    def pop(
        self,
        key: Any,
        default: Any = None,
        version: int | None = None,
        expire_time: bool = False,
        tag: bool = False,
        retry: bool = True,
    ) -> Any: ...
    def delete(self, key: Any, version: int | None = None, retry: bool = True) -> bool: ...
    def incr(self, key: Any, delta: int = 1, version: int | None = None, default: int | None = None, retry: bool = True) -> int: ...
    def decr(self, key: Any, delta: int = 1, version: int | None = None, default: int | None = None, retry: bool = True) -> int: ...
    def has_key(self, key: Any, version: int | None = None) -> bool: ...
    def expire(self) -> int: ...
    def stats(self, enable: bool = True, reset: bool = False) -> tuple[int, int]: ...
    def create_tag_index(self) -> None: ...
    def drop_tag_index(self) -> None: ...
    def evict(self, tag: Tag) -> int: ...
    def cull(self) -> int: ...
    def clear(self) -> int: ...
    def close(self, **kwargs: Any) -> None: ...
    def get_backend_timeout(self, timeout: Any = ...) -> float | None: ...
    def memoize(
        self,
        name: str | None = None,
        timeout: Any = ...,
        version: int | None = None,
        typed: bool = False,
        tag: Tag = None,
        ignore: Collection[int | str] = (),
    ) -> Callable[[Callable[_P, _R]], Memoized[_P, _R]]: ...
