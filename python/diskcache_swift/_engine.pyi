# The Swift extension module (private: Cache and the other classes are typed in their own
# stubs; the pure-Python modules without stubs use CacheCore only).
from typing import Any

CacheCore: Any
