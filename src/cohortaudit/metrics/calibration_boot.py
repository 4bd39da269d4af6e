"""Calibration metrics on bootstrap replicates, vectorised over replicates and groups.

The bootstrap (see :mod:`cohortaudit.metrics.bootstrap`) gives, per replicate, patient counts per
(group, outcome, score bin). Within a bin every patient keeps the bin's mean predicted risk and
mean logit (fixed from the data), so each calibration statistic is a function of the counts:

* O/E, discrimination slope, scaled Brier and ECE are sums over bins;
* CITL and the calibration slope are logistic fits on the binned data, solved by Newton's method
  for all replicates and groups at once (1 and 2 parameters: closed-form steps);
* ICI, E50, E90 and Emax refit the restricted-cubic-spline smoother on every replicate, with the
  group's own knots, on coarser bins (``SMOOTHER_BINS``) and for the first ``n_smooth``
  replicates only: that fit has four parameters per replicate and group, and is the costliest
  step of the audit. Both choices are stated in the result's settings.

As for the other ranking metrics, replicates are shifted to centre on the exact point estimate
(computed per patient by :mod:`cohortaudit.metrics.calibration`), so binning costs no bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from cohortaudit.metrics import portable
from cohortaudit.metrics.calibration import CLIP, rcs_basis

__all__ = [
    "CalibrationBins",
    "calibration_bins",
    "replicate_calibration",
    "CALIBRATION_BOOT_METRICS",
    "SMOOTHER_METRICS",
    "SMOOTHER_BINS",
    "ECE_EDGES",
]

#: Calibration metrics computed on every replicate.
CALIBRATION_BOOT_METRICS = (
    "oe_ratio",
    "citl",
    "calibration_slope",
    "recalibration_intercept",
    "ece",
    "scaled_brier",
    "discrimination_slope",
)
#: Smoother-based metrics, computed on the first ``n_smooth`` replicates.
SMOOTHER_METRICS = ("ici", "e50", "e90", "emax")
#: Score bins per outcome used when refitting the smoother on a replicate.
SMOOTHER_BINS = 64
#: Edges of the equal-width ECE bins (also forced into the bootstrap score grid).
ECE_EDGES = np.round(np.arange(1, 10) / 10, 1)

_Y = np.array([0.0, 1.0])[None, None, :, None]  # broadcast over (r, G, outcome, bin)

#: Newton tolerance for replicate fits: intervals are read to ~1e-3, so 1e-7 is ample, and
#: every extra iteration is a pass over all replicates and groups.
_REPLICATE_TOL = 1e-7


@dataclass(frozen=True)
class CalibrationBins:
    """Fixed per-bin facts for the released groups of one partition.

    mean_p, mean_lp: (G, 2, K) mean predicted risk and mean logit per group, outcome and bin;
    ece_bin: (K,) the ECE bin of each score bin; coarse: (K,) the smoother bin of each score
    bin; basis: (G, 2, SMOOTHER_BINS, d) spline design (with intercept) per group, or None for a
    group whose smoother is undefined; coarse_p: (G, 2, SMOOTHER_BINS) mean risk per coarse bin.
    """

    mean_p: np.ndarray
    mean_lp: np.ndarray
    ece_bin: np.ndarray
    coarse: np.ndarray
    basis: np.ndarray | None
    basis_ok: np.ndarray
    coarse_p: np.ndarray
    coarse_lp: np.ndarray
    #: exact estimates per group (Newton starts there, so a replicate needs a few steps)
    start_citl: np.ndarray
    start_intercept: np.ndarray
    start_slope: np.ndarray
    start_spline: np.ndarray | None = None


def calibration_bins(
    scores: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    keep: np.ndarray,
    bins: np.ndarray,
    n_bins: int,
    edges: np.ndarray,
    knots: list[np.ndarray | None],
    starts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    spline_coefs: list[tuple[float, ...]] | None = None,
) -> CalibrationBins:
    """Per-bin means for the released groups ``keep`` (group indices) of one partition.

    ``group`` is each patient's group; ``bins`` each patient's score bin; ``edges`` the grid's
    bin edges (to place ECE and smoother bins); ``knots`` the spline knots of each kept group.
    """
    position = np.full(int(group.max()) + 1 if len(group) else 1, -1)
    position[keep] = np.arange(len(keep))
    g = position[group]
    use = g >= 0
    key = (g[use] * 2 + y[use]) * n_bins + bins[use]
    size = len(keep) * 2 * n_bins
    p = np.clip(scores[use], CLIP, 1 - CLIP)
    lp = np.log(p / (1 - p))
    count = np.bincount(key, minlength=size).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_p = np.bincount(key, weights=scores[use], minlength=size) / count
        mean_lp = np.bincount(key, weights=lp, minlength=size) / count
    shape = (len(keep), 2, n_bins)
    mean_p = np.nan_to_num(mean_p).reshape(shape)
    mean_lp = np.nan_to_num(mean_lp).reshape(shape)
    count = count.reshape(shape)
    lower = np.concatenate([[0.0], edges])  # lower edge of each score bin
    ece_bin = np.searchsorted(ECE_EDGES, lower, side="right")
    coarse = np.minimum((np.arange(n_bins) * SMOOTHER_BINS) // n_bins, SMOOTHER_BINS - 1)

    # coarse (smoother) bins: count-weighted mean logit and risk, fixed across replicates
    c_count = _coarsen(count, coarse)
    with np.errstate(divide="ignore", invalid="ignore"):
        c_lp = np.nan_to_num(_coarsen(count * mean_lp, coarse) / c_count)
        c_p = np.nan_to_num(_coarsen(count * mean_p, coarse) / c_count)
    d = max((len(k) for k in knots if k is not None), default=0)
    basis_ok = np.array([k is not None and len(k) == d for k in knots])
    basis = None
    if d >= 3 and basis_ok.any():
        basis = np.zeros((len(keep), 2, SMOOTHER_BINS, d))
        for j, k in enumerate(knots):
            if basis_ok[j]:
                flat = rcs_basis(c_lp[j].ravel(), np.asarray(k))
                basis[j, :, :, 0] = 1.0
                basis[j, :, :, 1:] = flat.reshape(2, SMOOTHER_BINS, d - 1)
    if starts is None:
        zeros = np.zeros(len(keep))
        starts = (zeros, zeros, zeros + 1.0)
    start = [
        np.nan_to_num(np.asarray(v, dtype=np.float64), nan=d0)
        for v, d0 in zip(starts, (0.0, 0.0, 1.0), strict=False)
    ]
    start_spline = None
    if basis is not None:
        start_spline = np.zeros((len(keep), d))
        for j, coef in enumerate(spline_coefs or []):
            if basis_ok[j] and coef is not None and len(coef) == d:
                start_spline[j] = coef
    return CalibrationBins(
        mean_p=mean_p,
        mean_lp=mean_lp,
        ece_bin=ece_bin,
        coarse=coarse,
        basis=basis,
        basis_ok=basis_ok,
        coarse_p=c_p,
        coarse_lp=c_lp,
        start_citl=start[0],
        start_intercept=start[1],
        start_slope=start[2],
        start_spline=start_spline,
    )


def _coarsen(a: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Sum the last axis into SMOOTHER_BINS bins (``coarse`` is non-decreasing)."""
    starts = np.searchsorted(coarse, np.arange(SMOOTHER_BINS))
    out = np.add.reduceat(a, np.minimum(starts, a.shape[-1] - 1), axis=-1)
    empty = np.append(starts[1:] == starts[:-1], False)
    out[..., empty] = 0.0
    return out


def replicate_calibration(
    counts: np.ndarray, loss: np.ndarray, cb: CalibrationBins, *, smoother: bool
) -> dict[str, np.ndarray]:
    """Calibration metrics of each replicate and group; counts (r, G, 2, K), loss (r, G)."""
    c = counts.astype(np.float64)
    m = c[:, :, 1].sum(axis=-1)
    k = c[:, :, 0].sum(axis=-1)
    n = m + k
    e_pos = (c[:, :, 1] * cb.mean_p[None, :, 1]).sum(axis=-1)
    e_neg = (c[:, :, 0] * cb.mean_p[None, :, 0]).sum(axis=-1)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["oe_ratio"] = m / (e_pos + e_neg)
        out["discrimination_slope"] = e_pos / m - e_neg / k
        prevalence = m / n
        out["scaled_brier"] = 1.0 - (loss / n) / (prevalence * (1 - prevalence))
        # ECE over equal-width bins: sum score bins into ECE bins
        starts = np.searchsorted(cb.ece_bin, np.arange(len(ECE_EDGES) + 1))
        starts = np.minimum(starts, c.shape[-1] - 1)
        n_b = np.add.reduceat(c.sum(axis=2), starts, axis=-1)
        y_b = np.add.reduceat(c[:, :, 1], starts, axis=-1)
        p_b = np.add.reduceat(
            c[:, :, 1] * cb.mean_p[None, :, 1] + c[:, :, 0] * cb.mean_p[None, :, 0], starts, axis=-1
        )
        empty = np.append(starts[1:] == starts[:-1], False)
        n_b[..., empty] = 0.0
        gap = np.where(n_b > 0, np.abs(y_b - p_b) / np.maximum(n_b, 1), 0.0)
        out["ece"] = (n_b * gap).sum(axis=-1) / n
    cc = _coarsen(c, cb.coarse)  # the logistic fits run on the coarse bins
    out["citl"] = _fit_offset_intercept(cc, cb.coarse_lp, cb.start_citl)
    intercept, slope = _fit_intercept_slope(cc, cb.coarse_lp, cb.start_intercept, cb.start_slope)
    out["recalibration_intercept"], out["calibration_slope"] = intercept, slope
    if smoother:
        out.update(_smoother_metrics(cc, cb))
    return out


def _expit(x: np.ndarray) -> np.ndarray:
    # scipy's expit rather than 0.5 * (1 + tanh(x / 2)): numpy's float64 tanh has AVX2 and
    # AVX-512 versions whose last bits differ from the scalar one (the same audit would give
    # another JSON on another CPU; see metrics.portable)
    return special.expit(x)


def _fit_offset_intercept(
    c: np.ndarray, lp: np.ndarray, start: np.ndarray, iters: int = 12
) -> np.ndarray:
    """CITL: a in logit P(y=1) = a + offset(lp), by Newton's method for all (r, G) at once."""
    a = np.broadcast_to(start[None, :], c.shape[:2]).copy()
    for _ in range(iters):
        mu = _expit(a[..., None, None] + lp[None])
        score = (c * (_Y - mu)).sum(axis=(-1, -2))
        info = (c * mu * (1 - mu)).sum(axis=(-1, -2))
        with np.errstate(divide="ignore", invalid="ignore"):
            step = score / info
        a = a + np.nan_to_num(step)
        if np.nanmax(np.abs(step), initial=0.0) < _REPLICATE_TOL:
            break
    bad = ~np.isfinite(a) | (c[:, :, 1].sum(-1) == 0) | (c[:, :, 0].sum(-1) == 0)
    return np.where(bad, np.nan, a)


def _fit_intercept_slope(
    c: np.ndarray, lp: np.ndarray, start_a: np.ndarray, start_b: np.ndarray, iters: int = 15
):
    """Recalibration intercept and slope: logit P(y=1) = a + b*lp, Newton with 2x2 solves."""
    a = np.broadcast_to(start_a[None, :], c.shape[:2]).copy()
    b = np.broadcast_to(start_b[None, :], c.shape[:2]).copy()
    x = lp[None]
    converged = np.zeros(c.shape[:2], dtype=bool)
    for _ in range(iters):
        mu = _expit(a[..., None, None] + b[..., None, None] * x)
        w = c * mu * (1 - mu)
        r = c * (_Y - mu)
        s0, s1 = r.sum(axis=(-1, -2)), (r * x).sum(axis=(-1, -2))
        h00 = w.sum(axis=(-1, -2))
        h01 = (w * x).sum(axis=(-1, -2))
        h11 = (w * x * x).sum(axis=(-1, -2))
        det = h00 * h11 - h01 * h01
        with np.errstate(divide="ignore", invalid="ignore"):
            da = (h11 * s0 - h01 * s1) / det
            db = (h00 * s1 - h01 * s0) / det
        ok = np.isfinite(da) & np.isfinite(db)
        a = np.where(ok, a + da, a)
        b = np.where(ok, b + db, b)
        converged = ok & (np.abs(da) < _REPLICATE_TOL) & (np.abs(db) < _REPLICATE_TOL)
        if converged.all():
            break
    bad = ~converged | (np.abs(b) > 1e3)
    return np.where(bad, np.nan, a), np.where(bad, np.nan, b)


def _smoother_metrics(c: np.ndarray, cb: CalibrationBins, iters: int = 10) -> dict[str, np.ndarray]:
    """Refit the spline smoother per replicate and group; ICI, E50, E90, Emax from it."""
    r, g = c.shape[:2]
    nan = np.full((r, g), np.nan)
    if cb.basis is None:
        return {key: nan.copy() for key in SMOOTHER_METRICS}
    cc = c  # already coarse: (r, G, 2, S)
    d = cb.basis.shape[-1]
    X = cb.basis.reshape(g, 2 * SMOOTHER_BINS, d)  # (G, 2S, d)
    counts = cc.reshape(r, g, 2 * SMOOTHER_BINS)
    events = np.concatenate(
        [np.zeros_like(cc[:, :, 0]), cc[:, :, 1]], axis=-1
    )  # y=1 rows carry their counts as events
    beta = np.broadcast_to(cb.start_spline[None], (r, g, d)).copy()
    # column-major views for the machine-independent products (metrics.portable): a design
    # column is (1, G, 2S), a coefficient (R, G, 1)
    columns = np.moveaxis(X, -1, 0)[:, None]

    def linear_predictor(b: np.ndarray) -> np.ndarray:
        return portable.combine(columns, np.moveaxis(b, -1, 0)[..., None])

    for _ in range(iters):
        mu = _expit(linear_predictor(beta))
        w = counts * mu * (1 - mu)
        score = np.moveaxis(portable.cross(columns, events - counts * mu), 0, -1)
        hess = portable.gram(columns, w) + 1e-10 * np.eye(d)
        step = portable.cho_solve(portable.cholesky(hess), score)
        step = np.where(np.isfinite(step), step, 0.0)
        beta = beta + step
        if np.abs(step).max(initial=0.0) < 1e-7:
            break
    p_c = _expit(linear_predictor(beta))
    p = cb.coarse_p.reshape(g, 2 * SMOOTHER_BINS)[None]
    dist = np.abs(p_c - p)
    n = counts.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ici = (counts * dist).sum(axis=-1) / n
    order = np.argsort(dist, axis=-1)
    d_sorted = np.take_along_axis(dist, order, axis=-1)
    w_sorted = np.take_along_axis(counts, order, axis=-1)
    cum = np.cumsum(w_sorted, axis=-1) / np.maximum(n[..., None], 1)

    def _wq(q: float) -> np.ndarray:
        idx = np.argmax(cum >= q - 1e-12, axis=-1)
        return np.take_along_axis(d_sorted, idx[..., None], axis=-1)[..., 0]

    emax = np.where(counts > 0, dist, -np.inf).max(axis=-1)
    ok = cb.basis_ok[None, :] & (n > 0)
    return {
        "ici": np.where(ok, ici, np.nan),
        "e50": np.where(ok, _wq(0.5), np.nan),
        "e90": np.where(ok, _wq(0.9), np.nan),
        "emax": np.where(ok, emax, np.nan),
    }
