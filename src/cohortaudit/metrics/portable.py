"""Small-design linear algebra whose last bits do not depend on the machine.

Why this exists: numpy hands ``@``, ``einsum(optimize=True)``, ``linalg.solve`` and
``linalg.cholesky`` to OpenBLAS/LAPACK, which picks a kernel for the CPU it finds at run
time (AVX-512, AVX2, SSE...). Each kernel adds the same products in a different order, so the
same audit gives a calibration curve that differs in the 15th digit on an Intel and on an AMD
server: the audit JSON, its SHA-256 audit id and the golden outputs then differ between
machines, and a regulator re-running a filed audit cannot reproduce its hash. (Seen in CI:
``calibration_curve.ci_high`` and E50/E90/Emax moved by 1e-15 when the CI machine changed.)

Everything here is built from numpy's element-wise ufuncs (one correctly rounded IEEE
operation per element, whatever the SIMD width) and ``np.add.reduce`` along a contiguous axis
(numpy's fixed-order pairwise summation), so the result is the same on every CPU. No
well-kept library offers reproducible BLAS for Python; the designs here have at most a dozen
columns, so the loops over columns cost little next to the passes over patients.
"""

from __future__ import annotations

import numpy as np

__all__ = ["combine", "cross", "gram", "cholesky", "cho_solve", "solve_pd"]


def combine(columns: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``sum_j coef[j] * columns[j]``: a linear predictor from a design stored column-major.

    ``columns`` has the column index first, shape ``(p, ...)``; ``coef`` is ``(p,)`` or
    ``(p, ...)`` broadcasting against ``columns[j]``. Added left to right.
    """
    out = coef[0] * columns[0]
    for j in range(1, columns.shape[0]):
        out = out + coef[j] * columns[j]
    return out


def cross(columns: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``columns @ v`` for ``columns`` of shape ``(p, n)``: each row's sum of products."""
    return np.add.reduce(columns * v, axis=-1)


def gram(columns: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``columns diag(v) columns^T`` for ``columns`` of shape ``(p, ..., n)``: the weighted
    information matrix, shape ``(..., p, p)``, symmetric by construction."""
    p = columns.shape[0]
    weighted = columns * v
    out = np.empty(weighted.shape[1:-1] + (p, p))
    for i in range(p):
        row = np.add.reduce(weighted[i][None] * columns[i:], axis=-1)  # (p - i, ...)
        for k, j in enumerate(range(i, p)):
            out[..., i, j] = row[k]
            out[..., j, i] = row[k]
    return out


def cholesky(a: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of symmetric ``a`` (shape ``(..., p, p)``), NaN where a matrix of
    the batch is not positive definite."""
    p = a.shape[-1]
    low = np.zeros(a.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            s = a[..., j, j].copy()
            for k in range(j):
                s = s - low[..., j, k] * low[..., j, k]
            d = np.sqrt(np.where(s > 0, s, np.nan))
            low[..., j, j] = d
            for i in range(j + 1, p):
                t = a[..., i, j].copy()
                for k in range(j):
                    t = t - low[..., i, k] * low[..., j, k]
                low[..., i, j] = t / d
    return low


def cho_solve(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``(low low^T) x = b`` by forward and back substitution; ``b`` is ``(..., p)`` or
    ``(..., p, m)`` (several right-hand sides)."""
    p = low.shape[-1]
    vector = b.ndim == low.ndim - 1
    rhs = b[..., None] if vector else b
    z = np.empty(np.broadcast_shapes(low.shape[:-2], rhs.shape[:-2]) + rhs.shape[-2:])
    for i in range(p):
        t = rhs[..., i, :]
        for k in range(i):
            t = t - low[..., i, k, None] * z[..., k, :]
        z[..., i, :] = t / low[..., i, i, None]
    x = np.empty_like(z)
    for i in reversed(range(p)):
        t = z[..., i, :]
        for k in range(i + 1, p):
            t = t - low[..., k, i, None] * x[..., k, :]
        x[..., i, :] = t / low[..., i, i, None]
    return x[..., 0] if vector else x


def solve_pd(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Solve ``a x = b`` for one symmetric positive-definite ``a``; None when ``a`` is
    (numerically) singular: not positive definite, or a Cholesky pivot below 1e-10 of the
    largest."""
    low = cholesky(a)
    d = np.diagonal(low)
    if not np.all(np.isfinite(low)) or d.min() <= 1e-10 * max(d.max(), 1e-300):
        return None
    return cho_solve(low, b)
