"""Keep large buffers in the heap: the allocator setting that makes batched CPU inference fast.

With glibc's defaults, every allocation above the mmap threshold (at most 32 MiB) gets its own
``mmap`` and goes back to the kernel on ``free``. A CNN's activations at batch 32 are larger
than that, so each layer maps fresh pages, page-faults them in, and unmaps them again: the
forward pass spends its time in the kernel (ResNet50, batch 32, 2 cores: 8.8 img/s and 10 s
of system time, against 14.6 img/s once buffers are reused). :func:`tune_allocator` sets, in
this process and before any framework allocates, what ``MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=<2 GiB>`` would: large blocks come from the heap and freed memory is
kept for the next batch. Between shards, :func:`release_free_memory` hands the free pages
inside the heap back (``malloc_trim``), so resident memory does not creep up over a long run;
the free top of the heap, which the next batches reuse, stays.

Left alone when another allocator is preloaded (tcmalloc, jemalloc, mimalloc), when the user
set glibc's own ``MALLOC_*``/``GLIBC_TUNABLES`` variables, off glibc, and with
``EVALKIT_ALLOCATOR=system``. What was done is recorded in each run's ``environment.runtime``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
KEEP_FREED = 2**31 - 1  # bytes of free heap kept before trimming (mallopt takes an int)
# glibc's steady state with its dynamic thresholds: blocks up to 32 MiB reused, larger mapped
GLIBC_DEFAULT = {M_MMAP_MAX: 65536, M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20}
TUNED = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: KEEP_FREED}
PRELOADED = ("tcmalloc", "jemalloc", "mimalloc")
USER_SETTINGS = (
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
)
TUNED_TEXT = "glibc, large buffers reused (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GiB)"

_state: str | None = None


def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def _apply(settings: dict[int, int]) -> bool:
    libc = _libc()
    if libc is None:
        return False
    return all(libc.mallopt(param, value) == 1 for param, value in settings.items())


def _why_untouched() -> str | None:
    """Why the allocator is left as it is (None: evalkit may tune it)."""
    preload = os.environ.get("LD_PRELOAD", "")
    for name in PRELOADED:
        if name in preload:
            return f"{name} (preloaded, left as it is)"
    if os.environ.get("EVALKIT_ALLOCATOR", "").lower() in {"system", "default", "off", "0"}:
        return "system default (EVALKIT_ALLOCATOR=system)"
    user = [name for name in USER_SETTINGS if name in os.environ]
    if user:
        return f"glibc with the user's settings ({', '.join(user)})"
    if _libc() is None:
        return f"system default ({platform.system()}, {platform.libc_ver()[0] or 'no glibc'})"
    return None


def tune_allocator() -> str:
    """Tune glibc's malloc for large reused buffers, once per process; returns what was done
    (the text recorded as ``environment.runtime.allocator``)."""
    global _state
    if _state is None:
        untouched = _why_untouched()
        if untouched is not None:
            _state = untouched
        else:
            _state = TUNED_TEXT if _apply(TUNED) else "glibc default (mallopt refused)"
    return _state


def release_free_memory() -> None:
    """Give the free pages inside the heap back to the kernel (``malloc_trim``), when evalkit
    tuned the allocator: called once per shard, so resident memory does not creep up over a
    long run. The free top of the heap stays (up to ``KEEP_FREED``, as the trim threshold
    says): the next shard's batches reuse it instead of faulting it in again (ResNet50 at
    batch 16, 2 cores: 300 page faults and 0.6 ms of system time per image when it went)."""
    if _state == TUNED_TEXT and (libc := _libc()) is not None:
        libc.malloc_trim(ctypes.c_size_t(KEEP_FREED))


def allocator_state() -> str:
    """What :func:`tune_allocator` did in this process (``not tuned yet`` before it ran)."""
    return _state or "not tuned yet"


@contextlib.contextmanager
def glibc_defaults() -> Iterator[bool]:
    """glibc's default behaviour for large blocks, for a before/after measurement (yields
    whether it could be switched; restores the tuned settings after)."""
    tuned = _state == TUNED_TEXT
    switched = tuned and _apply(GLIBC_DEFAULT)
    try:
        yield switched
    finally:
        if switched:
            _apply(TUNED)
