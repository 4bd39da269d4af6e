"""User-defined metrics: any sklearn-style ``metric(y_true, y_pred)`` or ``metric(y_true, y_score)``.

Why: an auditor often has a metric of their own (a site's preferred score, a clinical cost, a
fairlearn metric) and should see it for the whole cohort, every group and every intersection,
under the same disclosure rules as the built-in ones, without forking the tool. The groups are
computed by ``fairlearn.metrics.MetricFrame`` (fairlearn's natural job in the product); the
intervals by a seeded percentile bootstrap within each group, within a stated budget.

Naming a metric
---------------
``module:function`` (what ``--metric`` takes), optionally with ``@pred`` or ``@score``:

- ``@pred``: the function receives ``y_pred = (y_score >= threshold)`` as 0/1 integers;
- ``@score``: it receives the predicted risks ``y_score``.

Without a suffix the kind comes from the name of the function's second parameter: ``y_pred``
-> pred; ``y_score``, ``y_prob``, ``y_proba``, ``probas_pred``, ``y_pred_proba`` -> score.
(sklearn's ``log_loss`` and ``brier_score_loss`` of older versions take probabilities under
other names: say ``sklearn.metrics:log_loss@score``.) Importing ``module`` runs its code: it is
the user's own metric, from the user's own environment, by design.

Disclosure
----------
A group's value is released only when the group itself is released (suppressed groups, fewer
than k events or non-events, are withheld), and a ``pred`` metric is withheld wherever the
audit withholds the group's threshold metrics (a confusion-matrix cell below k), because a
metric of 0/1 predictions can give such a cell back.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cohortaudit.errors import ConfigError
from cohortaudit.registry import METRICS
from cohortaudit.results import Caveat, GroupResult, clean_float, not_evaluable

if TYPE_CHECKING:
    from cohortaudit.config import AuditConfig

__all__ = [
    "UserMetric",
    "parse_metric_spec",
    "as_user_metric",
    "compute_user_metrics",
    "for_audit",
    "USER_N_BOOT_MAX",
    "USER_BOOT_BUDGET",
]

Kind = Literal["pred", "score"]

#: Bootstrap replicates per group for a user metric (at most; fewer when --n-boot is smaller).
#: A user's metric is an opaque Python call (sklearn's take ~2 ms each, mostly input checks),
#: so it cannot use the built-in metrics' binned replicates.
USER_N_BOOT_MAX = 200
#: Metric evaluations per user metric spent on intervals, over all groups: the whole cohort
#: first, then single attributes, then intersections, while the budget lasts. Deterministic
#: (a count, not a time), so a re-run gives the same intervals.
USER_BOOT_BUDGET = 4_000
#: A group's interval is given only when the metric is defined in at least this share of its
#: replicates (a replicate with one outcome class can make a metric undefined).
MIN_DEFINED_SHARE = 0.95

_PRED_NAMES = ("y_pred",)
_SCORE_NAMES = (
    "y_score",
    "y_scores",
    "y_prob",
    "y_proba",
    "y_probas",
    "probas_pred",
    "y_pred_proba",
)
_SPEC = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_][\w.]*)(?:@(pred|score))?$")
_KEY = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class UserMetric:
    """A user's metric: the callable, what it receives (``kind``), its key and where it came from."""

    func: Callable[..., Any]
    kind: Kind
    key: str
    source: str

    def __post_init__(self) -> None:
        if not callable(self.func):
            raise ConfigError(
                f"A user metric must be callable as metric(y_true, y_pred). "
                f"Got {type(self.func).__name__} instead."
            )
        if self.kind not in ("pred", "score"):
            raise ConfigError(
                f"A user metric's kind must be 'pred' or 'score'. Got {self.kind!r} instead."
            )
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise ConfigError(
                f"A user metric's key must be a Python identifier (letters, digits, _). Got "
                f"{self.key!r}; give one with UserMetric(func, kind=..., key='my_metric', ...)."
            )

    @property
    def receives(self) -> str:
        return "y_pred = (y_score >= threshold), 0/1" if self.kind == "pred" else "y_score"

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "source": self.source, "kind": self.kind}


def infer_kind(func: Callable[..., Any]) -> Kind | None:
    """``pred`` or ``score`` from the name of the second parameter; None when it says neither."""
    try:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return None
    if len(params) < 2:
        return None
    name = params[1].name
    if name in _PRED_NAMES:
        return "pred"
    if name in _SCORE_NAMES:
        return "score"
    return None


def _kind_or_error(func: Callable[..., Any], source: str, kind: str | None) -> Kind:
    if kind is not None:
        return kind  # type: ignore[return-value]
    inferred = infer_kind(func)
    if inferred is None:
        raise ConfigError(
            f"Cannot tell whether the metric '{source}' takes 0/1 predictions or risk scores: "
            "its second parameter is not named y_pred, y_score or y_prob. Say which with a "
            f"suffix: --metric {source}@pred or --metric {source}@score."
        )
    return inferred


def parse_metric_spec(spec: str) -> UserMetric:
    """``"module:function[@pred|@score]"`` -> a :class:`UserMetric` (imports ``module``).

    The current directory is searched too (after the installed packages), so a metric in
    ``./my_metrics.py`` is ``--metric my_metrics:f`` as with ``python -m``.
    """
    match = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ConfigError(
            f"The --metric value {spec!r} is not of the form module:function, for example "
            "--metric sklearn.metrics:recall_score or --metric my_metrics:net_cost@score."
        )
    module_name, attr, kind = match.groups()
    source = f"{module_name}:{attr}"
    module = _import(module_name, source)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(
                f"The module '{module_name}' has no function '{attr}' (from --metric {spec})."
            )
    if not callable(obj):
        raise ConfigError(
            f"'{source}' is a {type(obj).__name__}, not a function (from --metric {spec})."
        )
    return UserMetric(obj, _kind_or_error(obj, source, kind), attr.split(".")[-1], source)


def _import(module_name: str, source: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name == module_name.split(".")[0] and cwd not in sys.path:
            sys.path.append(cwd)
            try:
                return importlib.import_module(module_name)
            except ModuleNotFoundError:
                pass
            finally:
                sys.path.remove(cwd)
        raise ConfigError(
            f"Cannot import the module '{module_name}' (from --metric {source}): no such module "
            "in this Python environment or the current folder. Install it, or run from the "
            "folder that holds it."
        ) from None
    except Exception as exc:  # the user's module failed while importing: say so, no trace
        raise ConfigError(
            f"Importing the module '{module_name}' (from --metric {source}) failed with "
            f'{type(exc).__name__}. Check that `python -c "import {module_name}"` works.'
        ) from None


def as_user_metric(obj: Any) -> UserMetric:
    """A :class:`UserMetric` from one, from a ``module:function`` string or from a callable."""
    if isinstance(obj, UserMetric):
        return obj
    if isinstance(obj, str):
        return parse_metric_spec(obj)
    if callable(obj):
        name = getattr(obj, "__name__", None)
        source = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}"
        if not isinstance(name, str) or not _KEY.match(name):
            raise ConfigError(
                f"The user metric {source} has no usable name ({name!r}); wrap it as "
                "UserMetric(func, kind='pred' or 'score', key='my_metric', source='...')."
            )
        return UserMetric(obj, _kind_or_error(obj, source, None), name, source)
    raise ConfigError(
        "A user metric must be a callable metric(y_true, y_pred), a 'module:function' string or "
        f"a UserMetric. Got {type(obj).__name__} instead."
    )


def check_user_metrics(metrics: Sequence[Any]) -> tuple[UserMetric, ...]:
    """Every entry as a :class:`UserMetric`, keys unique and not a built-in metric's."""
    out = tuple(as_user_metric(m) for m in metrics)
    keys = [m.key for m in out]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(
            f"Two user metrics share the key {twice}: give one a key of its own with "
            "UserMetric(func, kind=..., key='other_name', source=...)."
        )
    clash = sorted(set(keys) & set(METRICS))
    if clash:
        raise ConfigError(
            f"The user metric key {clash} is a built-in metric of cohortaudit, which is already "
            "reported; wrap the function under another name."
        )
    return out


# ----------------------------------------------------------------------------------------------
# computing
# ----------------------------------------------------------------------------------------------


def _safe(metric: UserMetric, threshold: float) -> Callable[..., float]:
    """The metric as MetricFrame calls it on (y_true, y_score): pred metrics get 0/1 predictions;
    errors and non-finite values become NaN (the group reads 'undefined'), warnings are
    silenced (a one-class group is expected, and the result says so)."""

    def call(y_true: Any, y_score: Any) -> float:
        yt = np.asarray(y_true)
        ys = np.asarray(y_score, dtype=np.float64)
        arg = (ys >= threshold).astype(np.int64) if metric.kind == "pred" else ys
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = _scalar(metric.func(yt, arg))
        except Exception:
            value = math.nan
        return value

    return call


def _scalar(value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        return float(value)
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "biuf":
        raise TypeError("not a scalar")
    return float(arr)


def _check_on_everyone(metric: UserMetric, y_true: np.ndarray, y_score: np.ndarray, t: float):
    """Call the metric once on the whole cohort, outside MetricFrame, so a metric that cannot
    work at all stops the audit with a clear message instead of a column of NaN."""
    arg = (y_score >= t).astype(np.int64) if metric.kind == "pred" else y_score
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = metric.func(y_true, arg)
    except Exception as exc:
        raise ConfigError(
            f"The user metric '{metric.source}' failed on the whole cohort with "
            f"{type(exc).__name__} (it was given y_true and {metric.receives}). Check that it "
            "is called as metric(y_true, y_pred) and returns one number."
        ) from None
    try:
        _scalar(value)
    except TypeError:
        shape = getattr(np.asarray(value, dtype=object), "shape", ())
        raise ConfigError(
            f"The user metric '{metric.source}' must return one number; it returned a "
            f"{type(value).__name__} of shape {shape}. Reduce it to a scalar, e.g. with a "
            "wrapper function."
        ) from None


def compute_user_metrics(
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups_frame: pd.DataFrame,
    metrics: Sequence[UserMetric],
    *,
    groups: Sequence[GroupResult],
    threshold: float,
    n_boot: int,
    seed: int,
    confidence: float,
    k: int,
    boot_budget: int = USER_BOOT_BUDGET,
) -> tuple[dict[str, Any], tuple[Caveat, ...]]:
    """The ``user_metrics`` block of an audit result, and the caveats it raises.

    ``groups`` are the audit's finished groups (the whole cohort first, attributes ``{}``):
    they say which partitions exist, in which order, and which groups disclosure control
    released. Values come from one ``fairlearn.metrics.MetricFrame`` per partition.
    """
    from fairlearn.metrics import MetricFrame

    y_true = np.asarray(y_true).astype(np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    for metric in metrics:
        _check_on_everyone(metric, y_true, y_score, threshold)
    funcs = {m.key: _safe(m, threshold) for m in metrics}
    features = groups_frame.astype(str).reset_index(drop=True)

    overall_group = next((g for g in groups if not g.attributes), None)
    partitions = list(dict.fromkeys(tuple(g.attributes) for g in groups if g.attributes))
    point: dict[tuple, dict[str, float]] = {}
    rows: dict[tuple, np.ndarray] = {(): np.arange(len(y_true))}
    overall_values: dict[str, float] = {}
    for attrs in partitions:
        frame = MetricFrame(
            metrics=funcs,
            y_true=y_true,
            y_pred=y_score,
            sensitive_features=features[list(attrs)],
        )
        if not overall_values:
            overall_values = {key: float(v) for key, v in frame.overall.items()}
        by_group = frame.by_group
        for label, idx in features.groupby(list(attrs), sort=False).indices.items():
            label = label if isinstance(label, tuple) else (label,)
            row = by_group.loc[label if len(attrs) > 1 else label[0]]
            point[tuple(zip(attrs, label, strict=True))] = {key: float(row[key]) for key in funcs}
            rows[tuple(zip(attrs, label, strict=True))] = idx
    if not partitions:  # no sensitive features: the whole cohort only
        overall_values = {key: f(y_true, y_score) for key, f in funcs.items()}
    point[()] = overall_values

    replicates = min(n_boot, USER_N_BOOT_MAX)
    budget = {m.key: boot_budget for m in metrics}
    in_result_order = [g for g in groups if not g.attributes] + [g for g in groups if g.attributes]
    # intervals while the budget lasts: the whole cohort, then single attributes, then pairs...
    by_size = sorted(enumerate(in_result_order), key=lambda ig: len(ig[1].attributes))
    entries: dict[int, dict[str, Any]] = {}
    for position, g in by_size:
        key = tuple(g.attributes.items())
        entries[position] = _entry(
            g,
            point.get(key, {}),
            rows.get(key),
            metrics,
            y_true,
            y_score,
            threshold=threshold,
            replicates=replicates,
            budget=budget,
            order=position,
            seed=seed,
            confidence=confidence,
            k=k,
        )
    listed = [entries[i] for i in range(len(in_result_order))]
    undefined = {
        m.key: sum(
            1 for e in listed if (e.get("values") or {}).get(m.key, {}).get("status") == "undefined"
        )
        for m in metrics
    }
    caveats = tuple(
        Caveat(
            code="user_metric_undefined",
            severity="info",
            message=(
                f"The user metric '{m.key}' is undefined (it raised an error or returned "
                f"NaN/inf) in {undefined[m.key]} released group(s); they read 'undefined'."
            ),
            where={"metric": m.key},
        )
        for m in metrics
        if undefined[m.key]
    )
    block = {
        "metrics": [{**m.to_dict(), "receives": m.receives} for m in metrics],
        "settings": {
            "computed_with": "fairlearn.metrics.MetricFrame, one per partition",
            "threshold": float(threshold),
            "ci_method": (
                f"percentile bootstrap, patients resampled within the group, up to "
                f"{USER_N_BOOT_MAX} replicates per group (--n-boot {n_boot}), seeded per "
                "metric and group; a replicate where the metric is undefined is dropped"
            ),
            "replicates": replicates,
            "boot_budget": boot_budget,
            "budget_order": "the whole cohort, then single attributes, then intersections",
            "seed": seed,
            "confidence": confidence,
            "disclosure": (
                "values of suppressed groups are withheld; 'pred' metrics are withheld where "
                "the group's threshold metrics are (a confusion cell below k)"
            ),
            "code": "user code, imported from the auditor's own environment",
        },
        "overall": listed[0] if overall_group is not None else {},
        "groups": listed[1:] if overall_group is not None else listed,
    }
    return block, caveats


def for_audit(
    config: AuditConfig,
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups_frame: pd.DataFrame,
    groups: Sequence[GroupResult],
    threshold: float,
) -> tuple[dict[str, Any], tuple[Caveat, ...]]:
    """:func:`compute_user_metrics` with the audit's settings (the one call ``run_audit`` makes)."""
    return compute_user_metrics(
        y_true,
        y_score,
        groups_frame,
        config.user_metrics,
        groups=groups,
        threshold=threshold,
        n_boot=config.n_boot,
        seed=config.seed,
        confidence=config.confidence,
        k=config.min_cell,
    )


def _entry(
    group: GroupResult,
    values: Mapping[str, float],
    idx: np.ndarray | None,
    metrics: Sequence[UserMetric],
    y_true: np.ndarray,
    y_score: np.ndarray,
    *,
    threshold: float,
    replicates: int,
    budget: dict[str, int],
    order: int,
    seed: int,
    confidence: float,
    k: int,
) -> dict[str, Any]:
    """One group's released values (or why none are)."""
    entry: dict[str, Any] = {"attributes": dict(group.attributes)}
    if group.suppressed or idx is None:
        entry["released"] = False
        entry["reason"] = not_evaluable(k)
        return entry
    entry["released"] = True
    out: dict[str, Any] = {}
    for m_index, metric in enumerate(metrics):
        if metric.kind == "pred" and group.withheld:
            out[metric.key] = {
                "value": None,
                "ci_low": None,
                "ci_high": None,
                "status": "withheld",
                "ci_note": "withheld with the group's threshold metrics (a confusion cell < k)",
            }
            continue
        value = clean_float(values.get(metric.key))
        if value is None:
            out[metric.key] = {
                "value": None,
                "ci_low": None,
                "ci_high": None,
                "status": "undefined",
                "ci_note": "CI not computed: the metric is undefined in the group",
            }
            continue
        lo, hi, note = _interval(
            metric,
            idx,
            y_true,
            y_score,
            threshold=threshold,
            replicates=replicates,
            budget=budget,
            rng_key=(seed, m_index, order),
            confidence=confidence,
        )
        out[metric.key] = {
            "value": value,
            "ci_low": clean_float(lo),
            "ci_high": clean_float(hi),
            "status": "released",
            "ci_note": note,
        }
    entry["values"] = out
    return entry


def _interval(
    metric: UserMetric,
    idx: np.ndarray,
    y_true: np.ndarray,
    y_score: np.ndarray,
    *,
    threshold: float,
    replicates: int,
    budget: dict[str, int],
    rng_key: tuple[int, int, int],
    confidence: float,
) -> tuple[float | None, float | None, str | None]:
    """Percentile bootstrap within the group, or (None, None, why not)."""
    if replicates <= 0:
        return None, None, "CI not computed: no bootstrap replicates (--n-boot 0)"
    if budget[metric.key] < replicates:
        return (
            None,
            None,
            (
                f"CI not computed: the bootstrap budget for user metrics ({USER_BOOT_BUDGET} "
                "evaluations per metric) was spent on larger groups first"
            ),
        )
    budget[metric.key] -= replicates
    call = _safe(metric, threshold)
    rng = np.random.default_rng(list(rng_key))
    yt, ys = y_true[idx], y_score[idx]
    draws = np.empty(replicates)
    for b in range(replicates):
        pick = rng.integers(0, len(idx), len(idx))
        draws[b] = call(yt[pick], ys[pick])
    defined = draws[np.isfinite(draws)]
    if len(defined) < MIN_DEFINED_SHARE * replicates:
        return (
            None,
            None,
            (
                f"CI not computed: the metric was undefined in {replicates - len(defined)} of "
                f"{replicates} bootstrap replicates"
            ),
        )
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(defined, [alpha, 1 - alpha])
    return float(lo), float(hi), None
