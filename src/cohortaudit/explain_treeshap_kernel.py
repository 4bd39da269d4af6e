"""The numba kernels of :mod:`cohortaudit.explain_treeshap` (see there for the method).

Top-level functions in their own module, imported only when trees are explained, so that
numba's on-disk cache (``cache=True``) can store them: closures are recompiled in every
process (~10 s), module-level functions load from the cache in well under a second.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["game_kernel"]


@numba.njit(cache=True)
def _zeta(mu, m):
    """mu[S] <- sum of mu[T] over T subset of S, in place (block loops, no branches)."""
    n_sub = mu.shape[0]
    for k in range(m):
        step = 1 << k
        for start in range(0, n_sub, 2 * step):
            for s in range(start + step, start + 2 * step):
                mu[s] += mu[s - step]


@numba.njit(parallel=True, cache=True, fastmath=False)
def game_kernel(dx, dz, player, tchild, fchild, value, roots, base, m, logistic, stack_size):
    nx, nz = dx.shape[0], dz.shape[0]
    n_sub = 1 << m
    out = np.zeros((nx, n_sub))
    for i in numba.prange(nx):
        acc = np.zeros(n_sub)
        mu = np.zeros(n_sub)
        s_node = np.empty(stack_size, dtype=np.int64)
        s_a = np.empty(stack_size, dtype=np.int64)
        s_b = np.empty(stack_size, dtype=np.int64)
        for j in range(nz):
            if logistic:
                mu[:] = 0.0
            for t in range(roots.shape[0]):
                top = 0
                s_node[0] = roots[t]
                s_a[0] = 0
                s_b[0] = 0
                top = 1
                while top > 0:
                    top -= 1
                    n = s_node[top]
                    a = s_a[top]
                    b = s_b[top]
                    while tchild[n] >= 0:
                        gx = dx[i, n]
                        gz = dz[j, n]
                        r = player[n]
                        if gx == gz or r < 0:
                            n = tchild[n] if gx else fchild[n]
                            continue
                        bit = np.int64(1) << r
                        if a & bit:
                            n = tchild[n] if gx else fchild[n]
                        elif b & bit:
                            n = tchild[n] if gz else fchild[n]
                        else:
                            s_node[top] = tchild[n] if gz else fchild[n]
                            s_a[top] = a
                            s_b[top] = b | bit
                            top += 1
                            n = tchild[n] if gx else fchild[n]
                            a = a | bit
                    v = value[n]
                    if v != 0.0:
                        sub = b
                        while True:
                            c = sub
                            odd = 0
                            while c:
                                c &= c - 1
                                odd ^= 1
                            mu[a | sub] += -v if odd else v
                            if sub == 0:
                                break
                            sub = (sub - 1) & b
            if logistic:
                _zeta(mu, m)
                for s in range(n_sub):
                    acc[s] += 1.0 / (1.0 + np.exp(-(base + mu[s])))
        if logistic:
            for s in range(n_sub):
                out[i, s] = acc[s] / nz
        else:
            _zeta(mu, m)
            for s in range(n_sub):
                out[i, s] = base + mu[s] / nz
    return out
