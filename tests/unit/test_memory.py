"""The allocator limit a service process sets for itself (its effect is measured by
bench/soak.py: RSS stays flat under repeated large bodies)."""

from __future__ import annotations

import platform

import pytest

from footfall.memory import limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_arena_limit() -> None:
    assert limit_malloc_arenas(2) is True
