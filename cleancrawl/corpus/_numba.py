"""numba, optional, for the compiled kernels (`_langdetect_kernel`, `_minhash_kernel`).

numba is imported with scipy hidden (see `scipy_hidden`); `AVAILABLE` is False where it is
missing or unloadable, or JIT is disabled, and each kernel module then keeps its numpy/Python
reference path. `jit` compiles with an on-disk cache where numba finds a writable place
(NUMBA_CACHE_DIR if set, else the package's __pycache__, else the user's cache folder).
"""
from __future__ import annotations

import contextlib
import sys
import threading

_SCIPY_LOCK = threading.Lock()


@contextlib.contextmanager
def scipy_hidden():
    """Start numba with scipy hidden: it imports scipy (~0.25 s) only to find a BLAS for np.dot
    and np.linalg, which these kernels do not use, and a scipy already imported would make
    `corpus.sentences` import NLTK with its optional scipy.stats (~0.5 s more per worker).
    Numba code in this process then goes without BLAS. Nothing is hidden once scipy is imported.
    """
    with _SCIPY_LOCK:
        if "scipy" in sys.modules:
            yield
            return
        sys.modules["scipy"] = None  # makes `import scipy...` raise ImportError
        try:
            yield
        finally:
            if sys.modules.get("scipy", 0) is None:
                del sys.modules["scipy"]


with scipy_hidden():
    try:
        import numba
    except Exception:  # missing, built for another numpy, llvmlite unloadable: the reference path is used
        numba = None

AVAILABLE = numba is not None and not numba.config.DISABLE_JIT


def jit(function):
    """numba.njit with an on-disk cache where numba finds a writable place, else without one;
    the function itself where numba is unavailable."""
    if not AVAILABLE:
        return function
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(function)
