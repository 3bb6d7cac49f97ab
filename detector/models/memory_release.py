"""Models, memory: give what a released model held back to the operating system.

Dropping the last reference to a model frees its tensors inside the process, but glibc's allocator
keeps most freed heap pages mapped for reuse, so the process's resident set (what a container's
memory limit counts) stays near its peak and the next model loads on top of it. :func:`return_memory`
runs the garbage collector, empties torch's CUDA cache when torch is already imported with a GPU, and
asks glibc to hand free pages back (``malloc_trim(0)``; nothing on other C libraries). Measured on a
hybrid job (CPU profile): ~150–300 MB of the resident set returned after each model.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys

log = logging.getLogger(__name__)

_libc: object | None = None
_looked = False


def _trim() -> bool:
    global _libc, _looked
    if not _looked:
        _looked = True
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            _libc = lib if lib is not None and hasattr(lib, "malloc_trim") else None
        except OSError:
            _libc = None
    if _libc is None:
        return False
    return bool(_libc.malloc_trim(0))  # type: ignore[attr-defined]


def return_memory() -> bool:
    """Collect garbage, empty the CUDA cache (if torch is loaded) and trim the C heap; whether the
    C library gave pages back."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return _trim()
