"""The one set of numba flags every kernel is compiled with."""

from __future__ import annotations

import numba

# error_model="numpy": division by zero gives inf/nan as in numpy instead of
# raising, and lets loops vectorise. No fastmath: inputs may hold NaN and inf.
jit = numba.njit(cache=True, nogil=True, error_model="numpy")

# The one fast-math flag set: "reassoc" alone, so that LLVM may sum a loop in
# several vector lanes (a plain loop of additions is one chain it must keep in
# order). NaN and inf still propagate; nothing assumes finite values.
jit_reassoc = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
