"""Give the C heap's free pages back to the system.

glibc keeps memory freed in the middle of its heap: an operator that parses thousands of watch
events between the objects it keeps ends with its RSS well above what it holds (in a 10,000
notebook run, about twice the caches' size). ``malloc_trim(0)`` returns those free pages. Where the
C library has no ``malloc_trim`` (musl, macOS), :func:`trim` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        function: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return function


def trim() -> bool:
    """Return the heap's free pages to the system; whether the C library could."""
    function = _malloc_trim()
    if function is None:
        return False
    function(0)
    return True
