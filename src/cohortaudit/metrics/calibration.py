"""Exact calibration point estimates for one group (Van Calster 2016/2019 hierarchy).

Inputs follow the engine's convention (see ``performance.py``): the group's predicted risks
split by outcome, ``pos`` (y = 1) and ``neg`` (y = 0), float64. Sorting is not required here
but costs nothing. Definitions follow ``shared/REFERENCE.md``; every choice that has
alternatives in the literature is recorded in the returned :class:`CalibrationEstimate`.

Conventions recorded here (and in the estimate):

* **Clipping.** Risks outside ``[CLIP, 1 - CLIP]`` (0 and 1 included) are clipped to that
  interval *for every calibration metric*, so that the logit scale, the probability scale and
  the Spiegelhalter variance all see the same numbers; the count is returned. The change to
  probability-scale metrics is at most ``CLIP`` per patient.
* **Logistic fits** (CITL, slope, spline smoother) are Newton-Raphson maximum likelihood, our
  own code rather than statsmodels because the engine refits them thousands of times in the
  bootstrap and needs a fit that reports trouble (separation, a singular information matrix)
  as ``converged=False`` instead of raising or warning.
* **Smoother.** Logistic regression of y on a restricted cubic spline of logit(p) (Harrell's
  ``rms::rcs``: default knot quantiles, outer knots at the 5th smallest / largest value when
  fewer than 100 patients, as ``Hmisc::rcspline.eval`` does), so the curve equals R's
  ``lrm(y ~ rcs(logit(p), k))`` (the CalibrationCurves ``smooth = "rcs"`` choice).
* **ECE bins** are ``[i/B, (i+1)/B)`` with the last bin closed, i.e. a risk on an edge belongs
  to the bin above it, the same side as the rule *positive iff p >= t*. (scikit-learn's
  ``calibration_curve`` puts edge values in the bin below; the two agree unless a risk sits
  exactly on an edge.)
* **Hosmer-Lemeshow groups** are cut at ``np.quantile(p, j/g)`` (numpy 'linear'), j = 1..g-1,
  duplicate cut points dropped, intervals closed on the right (``(a, b]``, the first also
  closed on the left), as R's ``cut(p, quantile(p, 0:g/g), include.lowest=TRUE)`` does; ties
  therefore never straddle two groups and empty groups are dropped. The number of groups
  actually used is returned; df = groups - 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from cohortaudit.metrics import portable

__all__ = [
    "CLIP",
    "CalibrationEstimate",
    "LogisticFit",
    "VALUE_KEYS",
    "CI_KEYS",
    "calibration_curve_on_grid",
    "calibration_point",
    "choose_knots",
    "fit_logistic",
    "logit",
    "log_oe_se",
    "rcs_basis",
]

#: Risks are clipped to [CLIP, 1 - CLIP] before anything is put on the logit scale.
CLIP = 1e-8

#: Keys of ``CalibrationEstimate.values``, in report order.
VALUE_KEYS = (
    "oe_ratio",
    "citl",
    "calibration_slope",
    "recalibration_intercept",
    "ici",
    "e50",
    "e90",
    "emax",
    "ece",
    "spiegelhalter_z",
    "spiegelhalter_p",
    "hosmer_lemeshow_chi2",
    "hosmer_lemeshow_p",
    "scaled_brier",
    "discrimination_slope",
)

#: Keys of ``CalibrationEstimate.ci`` (closed-form intervals only).
CI_KEYS = ("oe_ratio", "citl", "calibration_slope", "recalibration_intercept")

#: Harrell's default knot quantiles (Regression Modeling Strategies, table 2.3).
KNOT_QUANTILES: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
}

#: The smoother needs at least this many patients and this many of each outcome.
MIN_SMOOTHER_N = 20
MIN_SMOOTHER_EVENTS = 5

SMOOTHER_METHOD = "logistic regression on a restricted cubic spline of logit(p)"

_NAN2 = (math.nan, math.nan)


def logit(p) -> np.ndarray:
    """ln(p / (1 - p)) after clipping p to [CLIP, 1 - CLIP], so the result is always finite."""
    q = np.clip(np.asarray(p, dtype=np.float64), CLIP, 1.0 - CLIP)
    return np.log(q) - np.log1p(-q)


# --------------------------------------------------------------------------------------------
# Restricted cubic splines
# --------------------------------------------------------------------------------------------


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Harrell's restricted cubic spline basis: columns ``[x, s_1 .. s_{k-2}]``, no intercept.

    ``s_j(x) = [(x-t_j)+^3 - (x-t_{k-1})+^3 (t_k-t_j)/(t_k-t_{k-1})
    + (x-t_k)+^3 (t_{k-1}-t_j)/(t_k-t_{k-1})] / (t_k-t_1)^2``, the ``norm=2`` scaling of
    ``Hmisc::rcspline.eval`` used by ``rms::rcs``: it keeps the nonlinear columns in the units
    of x, which keeps the Newton fits well conditioned. The function is linear beyond the
    outer knots. ``x`` may have any shape ``(..., n)``; the result has shape ``(..., n, k-1)``
    (the bootstrap evaluates many replicates at once). Fewer than 3 knots gives just ``[x]``.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(knots, dtype=np.float64).ravel()
    k = t.size
    if k < 3:
        return x[..., None].copy()
    tk, tk1 = t[-1], t[-2]
    scale = (tk - t[0]) ** 2
    tj = t[: k - 2]
    xe = x[..., None]

    def cube(u: np.ndarray) -> np.ndarray:
        return np.maximum(u, 0.0) ** 3

    nonlinear = (
        cube(xe - tj)
        - cube(xe - tk1) * (tk - tj) / (tk - tk1)
        + cube(xe - tk) * (tk1 - tj) / (tk - tk1)
    ) / scale
    return np.concatenate([xe, nonlinear], axis=-1)


def choose_knots(x: np.ndarray, n_knots: int = 4) -> np.ndarray:
    """Knot locations for :func:`rcs_basis` by Harrell's default quantile rule.

    Quantiles (numpy 'linear' = R type 7): 3 knots .10/.50/.90, 4 knots .05/.35/.65/.95,
    5 knots .05/.275/.50/.725/.95. With fewer than 100 values the outer knots move to the 5th
    smallest and 5th largest value, as ``Hmisc::rcspline.eval`` does, so the curve matches
    R's ``rcs()``. When ties make knots coincide, or x has fewer distinct values than knots
    (the fit would be singular), fewer knots are tried (down to 3); when not even 3 work an
    empty array is returned, meaning "linear in x only". (Hmisc's extra handling of heavily
    tied extreme values, ``fractied``, is not reproduced.)
    The caller compares the length with ``n_knots`` and records any reduction.
    """
    if n_knots not in KNOT_QUANTILES:
        raise ValueError(f"The 'n_knots' parameter must be 3, 4 or 5. Got {n_knots!r} instead.")
    xs = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = xs.size
    distinct = np.unique(xs).size
    for k in range(n_knots, 2, -1):
        # k knots give k coefficients with the intercept: identifiable only with >= k distinct
        # values; rcspline.eval also refuses fewer than 6 observations.
        if n < 6 or distinct < k:
            continue
        knots = np.quantile(xs, KNOT_QUANTILES[k])
        if n < 100:
            knots[0], knots[-1] = xs[4], xs[n - 5]
        knots = np.unique(knots)
        if knots.size == k:
            return knots
    return np.empty(0, dtype=np.float64)


def _knot_quantiles(k: int) -> list[float]:
    return list(KNOT_QUANTILES.get(k, ()))


# --------------------------------------------------------------------------------------------
# Logistic regression by Newton-Raphson
# --------------------------------------------------------------------------------------------


@dataclass
class LogisticFit:
    """Result of :func:`fit_logistic`.

    ``cov`` is the inverse observed (= expected, canonical link) information at ``coef``;
    ``message`` says in plain words why a fit did not converge ("" when it did).
    """

    coef: np.ndarray
    cov: np.ndarray
    converged: bool
    iterations: int
    message: str = field(default="")
    #: expit(offset + X coef) as the last pass computed it (scipy's ``expit``), when the fit
    #: converged in the quadratic region; None otherwise. A caller that needs the fitted
    #: risks reuses it instead of another pass over every patient (the same numbers).
    fitted: np.ndarray | None = field(default=None, repr=False)


def _mu_and_loglik(eta: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Fitted risks and the log-likelihood sum w [y*eta - log(1 + e^eta)] from one exp().

    With e = exp(-|eta|): expit(eta) = 1/(1+e) or e/(1+e), and log(1 + e^eta) =
    max(eta, 0) + log1p(e); nothing overflows, and sharing e halves the transcendental work
    (the fit on a million patients is dominated by it).
    """
    e = np.exp(-np.abs(eta))
    inv = 1.0 / (1.0 + e)
    mu = np.where(eta >= 0, inv, e * inv)
    ll = float(np.add.reduce(w * (y * eta - np.maximum(eta, 0.0) - np.log1p(e))))
    return mu, ll


#: Groups larger than this start each exact fit from a fit on equal-count bins (below).
_COARSE_ABOVE = 50_000
#: Finer bins (16,384) save one exact pass per fit but stop Newton at another point inside its
#: tolerance: 1e6-row audits then differ in the 12th digit (issue 18, bench/README.md).
_COARSE_BINS = 1024


def _coarse_rows(lp: np.ndarray, n_pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-count bins of each outcome's (sorted) logits: mean logit, outcome, count.

    Only a starting point for Newton: a fit on these ~2000 weighted rows lands within about
    1e-4 of the exact estimate, so the exact fit on every patient that follows converges in
    one or two passes instead of five or six. The reported estimate is always the exact one.
    """
    out_lp, out_y, out_w = [], [], []
    for block, label in ((lp[:n_pos], 1.0), (lp[n_pos:], 0.0)):
        if block.size == 0:
            continue
        starts = np.unique(np.linspace(0, block.size, _COARSE_BINS + 1).astype(np.int64)[:-1])
        counts = np.diff(np.append(starts, block.size)).astype(np.float64)
        out_lp.append(np.add.reduceat(block, starts) / counts)
        out_y.append(np.full(starts.size, label))
        out_w.append(counts)
    return np.concatenate(out_lp), np.concatenate(out_y), np.concatenate(out_w)


def _mu_only(eta: np.ndarray) -> np.ndarray:
    """expit(eta) without overflow (the likelihood is not needed): scipy's one-pass ufunc,
    about twice as fast as the four numpy passes of the shared-exponential form above."""
    return special.expit(eta)


#: Rows per block of the information matrix product: bounds its temporary to p x this.
_GRAM_BLOCK = 1 << 20


def _weighted_gram(Xt: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Xt diag(v) Xt^T, in blocks of rows on large groups (no p x n temporary).

    On ten million patients the one-shot product needs a 400 MB temporary for a 5-column
    spline design; blocks keep the audit's peak memory flat. Small groups take one block, so
    their arithmetic (and their results) is unchanged.
    """
    n = Xt.shape[1]
    if n <= _GRAM_BLOCK:
        return portable.gram(Xt, v)
    out = np.zeros((Xt.shape[0], Xt.shape[0]))
    for a in range(0, n, _GRAM_BLOCK):
        out += portable.gram(Xt[:, a : a + _GRAM_BLOCK], v[a : a + _GRAM_BLOCK])
    return out


def _design(*columns: np.ndarray) -> np.ndarray:
    """An (n, p) design matrix stored column by column (a transposed view of (p, n)).

    :func:`fit_logistic` works on the transpose; built this way it needs no second copy of
    the design, which on a large group is n x p x 8 bytes.
    """
    return np.vstack(columns).T


def fit_logistic(
    X,
    y,
    *,
    weights=None,
    offset=None,
    start=None,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> LogisticFit:
    """Maximum-likelihood logistic regression by Newton-Raphson with step halving.

    ``X`` is the full design matrix (add the intercept column yourself, as with statsmodels).
    ``weights`` are frequency weights: binned data can be fitted as ``y = events / n`` with
    ``weights = n``, or as two rows per bin (y = 1 with weight events, y = 0 with weight
    n - events); both give the fit on the expanded rows. ``offset`` is added to the linear
    predictor with coefficient fixed at 1 (CITL). ``start`` (default zeros) is where Newton
    begins: a good start (the identity calibration, or the point estimate when refitting a
    bootstrap replicate) saves iterations, and step halving makes a poor one safe.

    Statistical trouble never raises: separation (coefficients running off to infinity), a
    singular information matrix or no convergence within ``max_iter`` give
    ``converged=False`` with a ``message``, and NaN coefficients / covariance when no finite
    estimate exists. Convergence: the largest Newton step is below ``tol * (1 + |coef|)``;
    ``cov`` is the inverse information at the last Newton point (within that step of
    ``coef``, i.e. equal to the information at ``coef`` to ~1e-10 relative).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, dtype=np.float64).ravel()
    n, p = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64).ravel()
    beta = np.zeros(p) if start is None else np.array(start, dtype=np.float64).ravel()

    def failed(message: str, iterations: int = 0) -> LogisticFit:
        return LogisticFit(
            coef=np.full(p, np.nan),
            cov=np.full((p, p), np.nan),
            converged=False,
            iterations=iterations,
            message=message,
        )

    if y.size != n or w.size != n or off.size != n or beta.size != p:
        return failed("design, outcome, weights, offset and start have inconsistent sizes")
    finite = np.isfinite(X).all() and np.isfinite(y).all() and np.isfinite(w).all()
    if not (finite and np.isfinite(off).all() and np.isfinite(beta).all()) or n == 0 or p == 0:
        return failed("no usable rows (empty or non-finite input)")

    Xt = np.ascontiguousarray(X.T)  # (p, n): contiguous rows make every product below faster
    eta = off + portable.combine(Xt, beta)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        mu, ll = _mu_and_loglik(eta, y, w)
        for it in range(1, max_iter + 1):
            score = portable.cross(Xt, w * (y - mu))
            info = _weighted_gram(Xt, w * mu * (1.0 - mu))
            step = _solve_pd(info, score)
            if step is None:
                if _looks_separated(mu, y, w):
                    return failed("quasi-complete separation (fitted risks run to 0 or 1)", it)
                return failed("singular information matrix (collinear design or separation)", it)
            # step halving keeps the likelihood increasing (needed from a poor start); once the
            # Newton step is tiny we are in the quadratic region, where the full step always
            # improves the fit, so the log-likelihood pass (the costly part) is skipped
            factor = 1.0
            if np.max(np.abs(step)) < 1e-4 * (1.0 + np.max(np.abs(beta))):
                beta = beta + step
                eta = off + portable.combine(Xt, beta)
                mu = _mu_only(eta)
                if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(beta))):
                    cov = _inv_pd(info)
                    if cov is None or _looks_separated(mu, y, w):
                        return failed("quasi-complete separation (fitted risks run to 0 or 1)", it)
                    return LogisticFit(
                        coef=beta, cov=cov, converged=True, iterations=it, fitted=mu
                    )
                ll = -np.inf  # force a fresh likelihood comparison on any later full pass
                continue
            for _ in range(40):
                new_beta = beta + factor * step
                new_eta = off + portable.combine(Xt, new_beta)
                new_mu, new_ll = _mu_and_loglik(new_eta, y, w)
                if np.isfinite(new_ll) and new_ll >= ll - 1e-12 * (1.0 + abs(ll)):
                    break
                factor *= 0.5
            else:
                return failed("likelihood could not be increased (numerical trouble)", it)
            beta, mu, ll = new_beta, new_mu, new_ll
            if np.max(np.abs(factor * step)) <= tol * (1.0 + np.max(np.abs(beta))):
                cov = _inv_pd(info)
                if cov is None or _looks_separated(mu, y, w):
                    return failed("quasi-complete separation (fitted risks run to 0 or 1)", it)
                return LogisticFit(coef=beta, cov=cov, converged=True, iterations=it)
        if _looks_separated(mu, y, w):
            return failed("quasi-complete separation (fitted risks run to 0 or 1)", max_iter)
    return failed(f"did not converge in {max_iter} iterations", max_iter)


def _solve_pd(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Solve a x = b for a symmetric positive-definite a; None if a is (numerically) singular."""
    return portable.solve_pd(a, b)


def _inv_pd(a: np.ndarray) -> np.ndarray | None:
    eye = np.eye(a.shape[0])
    inv = _solve_pd(a, eye)
    return None if inv is None else (inv + inv.T) / 2.0


def _looks_separated(mu: np.ndarray, y: np.ndarray, w: np.ndarray) -> bool:
    """True when every weighted row is fitted almost perfectly: the mark of separation."""
    use = w > 0
    if not np.any(use):
        return False
    return bool(np.max(np.abs(y[use] - mu[use])) < 1e-6)


# --------------------------------------------------------------------------------------------
# The calibration estimate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationEstimate:
    """Calibration point estimates for one group, plus what is needed to redraw the curve.

    ``values`` has exactly the keys of :data:`VALUE_KEYS` (NaN when undefined, with a note in
    ``problems``); ``ci`` the closed-form intervals of :data:`CI_KEYS`. ``knots`` are on the
    logit scale; ``spline_coef`` / ``spline_cov`` belong to the design ``[1, rcs_basis]``.
    ``ece_table`` has every bin (empty ones too); disclosure control suppresses later.
    """

    values: dict[str, float]
    ci: dict[str, tuple[float, float]]
    n_clipped: int
    problems: tuple[str, ...]
    knots: tuple[float, ...]
    smoother: dict
    spline_coef: tuple[float, ...]
    spline_cov: tuple[tuple[float, ...], ...]
    ece_table: tuple[dict, ...]
    hl_groups: int


def calibration_point(
    pos: np.ndarray,
    neg: np.ndarray,
    *,
    z: float = 1.959963984540054,
    n_knots: int = 4,
    ece_bins: int = 10,
    hl_groups: int = 10,
) -> CalibrationEstimate:
    """All calibration metrics of one group (REFERENCE.md "Calibration" and scaled Brier).

    Never raises on statistical trouble: a one-class group, too few patients for the spline
    (fewer than 20 patients or 5 of either outcome) or a fit that does not converge give NaN
    for the affected metrics and a plain-language note in ``problems`` (no row values).
    """
    g = _group_data(pos, neg)
    smoother = {"method": SMOOTHER_METHOD, "knots": 0, "knot_quantiles": []}
    if g.n == 0:
        return CalibrationEstimate(
            values=dict.fromkeys(VALUE_KEYS, math.nan),
            ci=dict.fromkeys(CI_KEYS, _NAN2),
            n_clipped=g.n_clipped,
            problems=("group has no patients; calibration not computed",),
            knots=(),
            smoother=smoother,
            spline_coef=(),
            spline_cov=(),
            ece_table=(),
            hl_groups=0,
        )
    observed = _observed_expected(g, z)
    recalibration = _recalibration(g, z) if not g.one_class else _Metrics()
    curve = _calibration_curve(
        g,
        n_knots,
        intercept=recalibration.values.get("recalibration_intercept", math.nan),
        slope=recalibration.values.get("calibration_slope", math.nan),
    )
    ece, ece_table = _ece(g.p, g.y, ece_bins)
    spiegelhalter = _spiegelhalter(g)
    hosmer_lemeshow, groups_used = _hosmer_lemeshow_test(g, hl_groups)
    brier = _brier_and_discrimination(g) if not g.one_class else _Metrics()
    parts = (
        _input_problems(g),
        observed,
        recalibration,
        curve.metrics,
        _Metrics(values={"ece": ece}),
        spiegelhalter,
        hosmer_lemeshow,
        brier,
    )
    values = dict.fromkeys(VALUE_KEYS, math.nan)
    ci = dict.fromkeys(CI_KEYS, _NAN2)
    for part in parts:
        values.update(part.values)
        ci.update(part.ci)
    return CalibrationEstimate(
        values=values,
        ci=ci,
        n_clipped=g.n_clipped,
        problems=tuple(text for part in parts for text in part.problems),
        knots=tuple(float(k) for k in curve.knots),
        smoother=curve.smoother if curve.smoother is not None else smoother,
        spline_coef=curve.spline_coef,
        spline_cov=curve.spline_cov,
        ece_table=ece_table,
        hl_groups=groups_used,
    )


@dataclass(frozen=True)
class _GroupData:
    """One group's risks in the forms every calibration metric reads: raw, clipped, logit."""

    raw: np.ndarray
    p: np.ndarray
    lp: np.ndarray
    y: np.ndarray
    n: int
    o: float
    n_pos: int
    n_clipped: int

    @property
    def one_class(self) -> bool:
        """Only events or only non-events: the fitted metrics are undefined."""
        return self.o == 0 or self.o == self.n


@dataclass(frozen=True)
class _Metrics:
    """Some of the estimate's values and intervals, and the notes on what could not be had."""

    values: dict[str, float] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Curve:
    """The spline smoother's metrics, its knots and coefficients (to redraw the curve), and
    its settings (None when too few patients for a curve)."""

    metrics: _Metrics
    knots: np.ndarray
    smoother: dict | None
    spline_coef: tuple[float, ...] = ()
    spline_cov: tuple[tuple[float, ...], ...] = ()


def _group_data(pos: np.ndarray, neg: np.ndarray) -> _GroupData:
    """Events first, then non-events, with the risks clipped once so every metric sees the
    same numbers."""
    pos = np.asarray(pos, dtype=np.float64).ravel()
    neg = np.asarray(neg, dtype=np.float64).ravel()
    raw = np.concatenate([pos, neg])
    p = np.clip(raw, CLIP, 1.0 - CLIP)
    return _GroupData(
        raw=raw,
        p=p,
        lp=np.log(p) - np.log1p(-p),
        y=np.concatenate([np.ones(pos.size), np.zeros(neg.size)]),
        n=raw.size,
        o=float(pos.size),
        n_pos=pos.size,
        n_clipped=int(np.count_nonzero((raw < CLIP) | (raw > 1.0 - CLIP))),
    )


def _input_problems(g: _GroupData) -> _Metrics:
    """Notes on the input itself (clipped risks, one outcome class), said before the metrics."""
    problems = []
    if g.n_clipped:
        problems.append(
            f"{g.n_clipped} predicted risk(s) at or beyond 0 or 1 were clipped to "
            f"[{CLIP:g}, 1 - {CLIP:g}]"
        )
    if g.one_class:
        problems.append(
            "group has only one outcome class; fitted calibration metrics, scaled Brier and "
            "discrimination slope are undefined"
        )
    return _Metrics(problems=tuple(problems))


def log_oe_se(events, n):
    """Standard error of ln(O/E) for a binary outcome: sqrt((1 - O/n) / O) (Debray et al.,
    BMJ 2017, with O ~ Binomial(n, pi) and E fixed by the model).

    Why not the Poisson sqrt(1/O) of REFERENCE.md: it treats O as Poisson, which holds only
    when the outcome is rare; at a prevalence of 20-25 % the Poisson interval covered 98-100 %
    of the time instead of 95 % (issue 19; tests/metrics/test_interval_coverage.py). The two
    agree as O/n goes to 0. Works on numbers and on numpy arrays; NaN without events.
    """
    o = np.asarray(events, dtype=np.float64)
    nn = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.where(o > 0, (1.0 - o / nn) / o, np.nan))
    return float(se) if se.ndim == 0 else se


def _observed_expected(g: _GroupData, z: float) -> _Metrics:
    """O/E with its binomial-delta interval, exp(ln O/E +- z SE) with SE = :func:`log_oe_se`
    (the interval needs at least one event)."""
    e = float(g.p.sum())
    if g.o > 0:
        half = z * log_oe_se(g.o, g.n)
        ci = {"oe_ratio": (g.o / e * math.exp(-half), g.o / e * math.exp(half))}
        return _Metrics(values={"oe_ratio": g.o / e}, ci=ci)
    return _Metrics(
        values={"oe_ratio": g.o / e},
        problems=("no events: the O/E confidence interval is undefined",),
    )


def _recalibration(g: _GroupData, z: float) -> _Metrics:
    """Calibration-in-the-large, slope and recalibration intercept, by logistic fits that on
    large groups start from a fit on equal-count bins (the reported fit is always exact)."""
    n, lp, y = g.n, g.lp, g.y
    values: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    problems: list[str] = []
    ones = np.ones((n, 1))
    # start near the answer: with slope fixed at 1, a ~ log(O/E) (saves Newton steps on
    # large groups, where every step is a pass over all patients)
    citl_start = math.log(g.o / float(g.p.sum())) if g.o > 0 else 0.0
    coarse = _coarse_rows(lp, g.n_pos) if n > _COARSE_ABOVE else None
    if coarse is not None:  # exact fit below, started from the fit on equal-count bins
        c_lp, c_y, c_w = coarse
        pre = fit_logistic(
            np.ones((c_lp.size, 1)), c_y, weights=c_w, offset=c_lp, start=[citl_start]
        )
        if pre.converged:
            citl_start = float(pre.coef[0])
    citl = fit_logistic(ones, y, offset=lp, start=[citl_start])
    if citl.converged:
        values["citl"] = float(citl.coef[0])
        ci["citl"] = _wald(citl, 0, z)
    else:
        problems.append(f"calibration-in-the-large fit did not converge ({citl.message})")
    slope_start = [0.0, 1.0]
    if coarse is not None:
        pre = fit_logistic(
            np.column_stack([np.ones(c_lp.size), c_lp]), c_y, weights=c_w, start=slope_start
        )
        if pre.converged:
            slope_start = list(pre.coef)
    slope = fit_logistic(_design(ones[:, 0], lp), y, start=slope_start)
    if slope.converged:
        values["recalibration_intercept"] = float(slope.coef[0])
        values["calibration_slope"] = float(slope.coef[1])
        ci["recalibration_intercept"] = _wald(slope, 0, z)
        ci["calibration_slope"] = _wald(slope, 1, z)
    else:
        problems.append(f"calibration slope fit did not converge ({slope.message})")
    return _Metrics(values=values, ci=ci, problems=tuple(problems))


def _calibration_curve(g: _GroupData, n_knots: int, *, intercept: float, slope: float) -> _Curve:
    """The flexible calibration curve (a spline smoother) and ICI, E50, E90 and Emax from it;
    it starts at the recalibration line when that fit converged."""
    n, lp, y, p = g.n, g.lp, g.y, g.p
    n_min = min(g.o, n - g.o)
    if n < MIN_SMOOTHER_N or n_min < MIN_SMOOTHER_EVENTS:
        problem = (
            f"too few patients for the calibration curve (needs at least {MIN_SMOOTHER_N} "
            f"patients and {MIN_SMOOTHER_EVENTS} of each outcome); ICI, E50, E90 and Emax "
            "not computed"
        )
        return _Curve(metrics=_Metrics(problems=(problem,)), knots=np.empty(0), smoother=None)
    knots, knot_problems = _spline_knots(lp, n_knots)
    problems = list(knot_problems)
    values: dict[str, float] = {}
    design = _design(np.ones(n), *rcs_basis(lp, knots).T)
    # start at the logistic recalibration line when we have it (else the identity p_c = p):
    # the spline only adds bends to it
    start = np.zeros(design.shape[1])
    start[1] = 1.0
    if math.isfinite(slope):
        start[0] = intercept
        start[1] = slope
    if n > _COARSE_ABOVE and knots.size >= 3:
        c_lp, c_y, c_w = _coarse_rows(lp, g.n_pos)
        c_design = np.column_stack([np.ones(c_lp.size), rcs_basis(c_lp, knots)])
        pre = fit_logistic(c_design, c_y, weights=c_w, start=start)
        if pre.converged:
            start = pre.coef
    fit = fit_logistic(design, y, start=start)
    spline_coef: tuple[float, ...] = ()
    spline_cov: tuple[tuple[float, ...], ...] = ()
    if fit.converged:
        pc = fit.fitted  # expit(design coef), the fit's last pass: the same numbers
        if pc is None:
            pc = special.expit(portable.combine(design.T, fit.coef))
        d = np.abs(pc - p)
        values["ici"] = float(d.mean())
        values["e50"] = float(np.median(d))
        values["e90"] = float(np.quantile(d, 0.9))
        values["emax"] = float(d.max())
        spline_coef = tuple(float(c) for c in fit.coef)
        spline_cov = tuple(tuple(float(c) for c in row) for row in fit.cov)
    else:
        problems.append(f"calibration curve fit did not converge ({fit.message})")
    smoother = {
        "method": SMOOTHER_METHOD,
        "knots": int(knots.size),
        "knot_quantiles": _knot_quantiles(int(knots.size)),
    }
    if n < 100 and knots.size:
        smoother["outer_knots"] = "5th smallest and largest logit(p) (fewer than 100)"
    return _Curve(
        metrics=_Metrics(values=values, problems=tuple(problems)),
        knots=knots,
        smoother=smoother,
        spline_coef=spline_coef,
        spline_cov=spline_cov,
    )


def _spline_knots(lp: np.ndarray, n_knots: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """The smoother's knots on the logit scale, and a note when ties forced fewer of them
    (none left: the curve is linear in logit(p))."""
    knots = choose_knots(lp, n_knots)
    if knots.size >= n_knots:
        return knots, ()
    if knots.size:
        return knots, (
            f"too few distinct predicted risks for {n_knots} spline knots; {knots.size} used",
        )
    return knots, (
        "too few distinct predicted risks for a spline; the calibration curve is "
        "a logistic fit linear in logit(p)",
    )


def _norm_sf(x: float) -> float:
    """The standard normal upper tail, ``scipy.stats.norm.sf(x)``: it *is* ``ndtr(-x)``
    (scipy's own definition), without importing ``scipy.stats`` (about 1 s of every CLI
    audit's start-up, issue 18)."""
    return float(special.ndtr(-x))


def _chi2_sf(x: float, df: int) -> float:
    """The chi-squared upper tail, ``scipy.stats.chi2.sf(x, df)`` = ``chdtrc(df, x)`` (scipy's
    own definition), without importing ``scipy.stats``."""
    return float(special.chdtrc(df, x))


def _spiegelhalter(g: _GroupData) -> _Metrics:
    """Spiegelhalter's z test and its two-sided p (undefined when its variance is 0)."""
    y, p = g.y, g.p
    num = float(np.sum((y - p) * (1.0 - 2.0 * p)))
    var = float(np.sum((1.0 - 2.0 * p) ** 2 * p * (1.0 - p)))
    if var > 0:
        zs = num / math.sqrt(var)
        return _Metrics(
            values={"spiegelhalter_z": zs, "spiegelhalter_p": float(2.0 * _norm_sf(abs(zs)))}
        )
    return _Metrics(problems=("Spiegelhalter z undefined (all predicted risks are 0.5 or 0/1)",))


def _hosmer_lemeshow_test(g: _GroupData, hl_groups: int) -> tuple[_Metrics, int]:
    """The Hosmer-Lemeshow statistic and p (df = groups - 2, so at least 3 groups), and the
    number of risk groups actually used."""
    chi2, groups_used = _hosmer_lemeshow(g.p, g.y, hl_groups)
    if groups_used >= 3 and np.isfinite(chi2):
        values = {
            "hosmer_lemeshow_chi2": chi2,
            "hosmer_lemeshow_p": float(_chi2_sf(chi2, groups_used - 2)),
        }
        return _Metrics(values=values), groups_used
    problem = f"Hosmer-Lemeshow statistic undefined ({groups_used} usable risk group(s))"
    return _Metrics(problems=(problem,)), groups_used


def _brier_and_discrimination(g: _GroupData) -> _Metrics:
    """Scaled Brier and discrimination slope (both need events and non-events)."""
    ybar = g.o / g.n
    brier = float(np.mean((g.p - g.y) ** 2))
    return _Metrics(
        values={
            "scaled_brier": 1.0 - brier / (ybar * (1.0 - ybar)),
            "discrimination_slope": float(g.p[: g.n_pos].mean() - g.p[g.n_pos :].mean()),
        }
    )


def calibration_curve_on_grid(
    est: CalibrationEstimate, grid: np.ndarray, *, z: float = 1.959963984540054
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed observed risk at predicted risks ``grid`` with a pointwise CI band.

    Returns ``(p_c, lower, upper)``. The band is Wald on the linear predictor (delta method:
    ``se = sqrt(x' V x)``) mapped through expit, so it stays in (0, 1). All NaN when the
    estimate has no fitted smoother. Only fixed grids leave the engine (disclosure rule 4).
    """
    g = np.asarray(grid, dtype=np.float64)
    if not est.spline_coef:
        nan = np.full(g.shape, np.nan)
        return nan, nan.copy(), nan.copy()
    coef = np.asarray(est.spline_coef)
    cov = np.asarray(est.spline_cov)
    basis = rcs_basis(logit(g), np.asarray(est.knots))
    design = np.concatenate([np.ones(g.shape + (1,)), basis], axis=-1)
    columns = np.moveaxis(design, -1, 0)
    eta = portable.combine(columns, coef)
    v_cols = cov.T.reshape(cov.shape + (1,) * (columns.ndim - 1))
    quad = portable.combine(columns, portable.combine(columns, v_cols))  # x' V x
    se = np.sqrt(np.maximum(quad, 0.0))
    return special.expit(eta), special.expit(eta - z * se), special.expit(eta + z * se)


# --------------------------------------------------------------------------------------------
# Helpers (module level so tests can call them)
# --------------------------------------------------------------------------------------------


def _wald(fit: LogisticFit, j: int, z: float) -> tuple[float, float]:
    se = math.sqrt(fit.cov[j, j])
    return float(fit.coef[j] - z * se), float(fit.coef[j] + z * se)


def _ece_bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    """Bin of each risk: ``[i/B, (i+1)/B)``, the last bin closed. Edges are i/B exactly."""
    edges = np.arange(1, bins) / bins
    return np.searchsorted(edges, p, side="right")


def _ece(p: np.ndarray, y: np.ndarray, bins: int) -> tuple[float, tuple[dict, ...]]:
    """Expected calibration error over equal-width bins and the per-bin table (all bins)."""
    idx = _ece_bin_index(p, bins)
    n_b = np.bincount(idx, minlength=bins)
    o_b = np.bincount(idx, weights=y, minlength=bins)
    s_b = np.bincount(idx, weights=p, minlength=bins)
    used = n_b > 0
    ece = float(np.sum(np.abs(o_b[used] - s_b[used])) / p.size)
    table = tuple(
        {
            "lower": i / bins,
            "upper": (i + 1) / bins,
            "n": int(n_b[i]),
            "events": int(round(o_b[i])),
            "sum_p": float(s_b[i]),
        }
        for i in range(bins)
    )
    return ece, table


def _hl_group_index(p: np.ndarray, groups: int) -> np.ndarray:
    """Risk group of each patient: cut at numpy-'linear' quantiles, intervals ``(a, b]``."""
    cuts = np.unique(np.quantile(p, np.arange(1, groups) / groups))
    return np.searchsorted(cuts, p, side="left")


def _hosmer_lemeshow(p: np.ndarray, y: np.ndarray, groups: int) -> tuple[float, int]:
    """Hosmer-Lemeshow chi-square and the number of non-empty groups used."""
    idx = _hl_group_index(p, groups)
    n_g = np.bincount(idx, minlength=groups).astype(np.float64)
    o_g = np.bincount(idx, weights=y, minlength=groups)
    e_g = np.bincount(idx, weights=p, minlength=groups)
    used = n_g > 0
    n_g, o_g, e_g = n_g[used], o_g[used], e_g[used]
    denom = e_g * (1.0 - e_g / n_g)
    if np.any(denom <= 0):
        return math.nan, int(used.sum())
    return float(np.sum((o_g - e_g) ** 2 / denom)), int(used.sum())
