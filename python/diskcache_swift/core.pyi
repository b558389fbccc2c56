# Types of diskcache_swift.core (python-diskcache 5.6.3's diskcache.core, plus ItemInfo and
# ReadOnlyError). Keys and values are any picklable object, hence Any.
import io
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

from ._cache import Cache as Cache

open = io.open

class Constant(tuple[str]):
    def __new__(cls, name: str) -> Constant: ...

DBNAME: str
ENOVAL: Constant
UNKNOWN: Constant
MODE_NONE: int
MODE_RAW: int
MODE_BINARY: int
MODE_TEXT: int
MODE_PICKLE: int
DEFAULT_SETTINGS: dict[str, Any]
METADATA: dict[str, int]
EVICTION_POLICY: dict[str, dict[str, Any]]

class Timeout(Exception): ...
class UnknownFileWarning(UserWarning): ...
class EmptyDirWarning(UserWarning): ...

class ReadOnlyError(OSError):
    """A write to a cache opened with ``read_only=True``."""

class ItemInfo(NamedTuple):
    """What ``iterinfo`` yields for an item, without reading its value."""

    key: Any
    expire_time: float | None
    tag: Any
    store_time: float
    size: int

def full_name(func: Callable[..., Any]) -> str: ...
def args_to_key(
    base: tuple[Any, ...], args: tuple[Any, ...], kwargs: dict[str, Any], typed: bool, ignore: Collection[int | str]
) -> tuple[Any, ...]: ...

class Disk:
    min_file_size: int
    pickle_protocol: int
    def __init__(self, directory: str, min_file_size: int = 0, pickle_protocol: int = 0) -> None: ...
    def hash(self, key: Any) -> int: ...
    def put(self, key: Any) -> tuple[Any, bool]: ...
    def get(self, key: Any, raw: bool) -> Any: ...
    def store(self, value: Any, read: bool, key: Any = ...) -> tuple[int, int, str | None, Any]: ...
    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any: ...
    def filename(self, key: Any = ..., value: Any = ...) -> tuple[str, str]: ...
    def remove(self, file_path: str) -> None: ...

class JSONDisk(Disk):
    compress_level: int
    def __init__(self, directory: str, compress_level: int = 1, **kwargs: Any) -> None: ...
