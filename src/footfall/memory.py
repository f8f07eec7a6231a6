"""The process's memory allocator, told to keep what a service process holds bounded."""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["limit_malloc_arenas"]

# glibc's mallopt parameter for the number of malloc arenas.
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Keep glibc to a few malloc arenas. Bodies over 64 KiB are parsed on worker threads; with
    an arena per thread (up to 8 per core) each keeps the memory it freed, and the process grows
    by a large body's size again and again (seen in bench/soak.py). False where the C library
    is not glibc (nothing to do)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
