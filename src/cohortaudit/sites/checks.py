"""What the coordinator checks in the site files it receives, before any pooling maths.

A site file comes from a stranger. Its ``content_sha256`` (checked by
:func:`cohortaudit.sites.export.read_site_file`) shows only that nobody edited the file
*without recomputing the hash*, and anyone can recompute it. So :func:`check_site_file` checks
what a file says against itself, and :func:`check_no_duplicate_cohorts` checks the files
against each other:

* **structure** -- the partitions, groups, histograms and sums the format defines, with the
  types it defines (counts are non-negative integers, sums finite numbers), so that no
  malformed file reaches the maths as a ``KeyError``;
* **score bins** -- every partition's edges are sorted, run from 0 to 1 and are edges of the
  fine grid of the file's own threshold (:func:`cohortaudit.sites.export.score_grid_edges`);
* **internal consistency** -- per released group: ``n = events + non-events`` with each
  histogram summing to its group's events / non-events; the risk sums of the histogram add up
  to the group's ``sum_p_*`` and lie inside the bins' ranges; the identities and bounds the
  stated sums must satisfy (``spiegelhalter_num = 2 sum_sq_error - events + sum_p_events -
  sum_p_non_events``; ``sum p^2 = sum_sq_error - events + 2 sum_p_events`` within the bins'
  ranges; raw and clipped Brier sums within ``2 clip n``; ``0 <= spiegelhalter_var <= n/16``);
  and across partitions: every patient is in exactly one group of each partition (a missing
  value is a group of its own), so the released children of a group add up to at most that
  group, and exactly to it when none of them is withheld;
* **disclosure** (rules 1 and 4, applied again to what was received) -- a released group has
  at least k events and k non-events; every histogram count, and every count above or below a
  bin edge (the confusion counts pooling derives), is 0 or at least k; a withheld group
  carries no numbers; a cohort caveat states no row count below k. k is the file's own ``min_cell``, or the coordinator's ``--min-cell``
  when that is larger. A count below the file's own k means the file was not written by a
  correct ``site-export``, so the file is refused rather than patched;
* **duplicates** -- two files with the same cohort file SHA-256 whose ``--where`` selections
  can overlap, or with the same numbers in every released group, would count the same
  patients twice.

Every check raises :class:`InputError` naming the file, the site, the group and the field.
Float comparisons allow for summation order (relative 1e-9 of the group size).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cohortaudit.errors import InputError
from cohortaudit.metrics.calibration import CLIP
from cohortaudit.sites.export import HISTOGRAM_KEYS, score_grid_edges

__all__ = [
    "SUM_KEYS",
    "check_compatible",
    "check_site_file",
    "check_no_duplicate_cohorts",
    "released_numbers_fingerprint",
]

#: The exact sums each released group states (see ``settings.sums`` of a site file).
SUM_KEYS = (
    "sum_p_events",
    "sum_p_non_events",
    "sum_sq_error_raw",
    "sum_sq_error",
    "spiegelhalter_num",
    "spiegelhalter_var",
)
_COUNT_KEYS = ("events", "non_events")
_REL_TOL = 1e-9
_WITHHELD_KEYS = {"attributes", "suppressed", "suppression_reason"}
_FIX = (
    "The file is not what 'cohortaudit site-export' writes (it was edited and its hash "
    "recomputed, or it is damaged): ask the site for its original file, or to re-export it."
)


class _Where:
    """The file being checked, for messages."""

    def __init__(self, file_name: str, site: Any):
        self.file_name = file_name
        self.site = site

    def fail(self, what: str, fix: str = _FIX) -> InputError:
        return InputError(f"The site file '{self.file_name}' (site {self.site!r}): {what}. {fix}")


def _label(attrs: dict[str, str]) -> str:
    if not attrs:
        return "the whole cohort"
    return "group " + ", ".join(f"{a}={v}" for a, v in attrs.items())


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return (isinstance(x, int | float) and not isinstance(x, bool)) and math.isfinite(x)


def _tol(scale: float) -> float:
    return _REL_TOL * max(1.0, abs(scale))


# --------------------------------------------------------------------------------------------
# one file
# --------------------------------------------------------------------------------------------


def check_site_file(data: dict[str, Any], *, file_name: str, min_cell: int | None = None) -> None:
    """Refuse a site file that contradicts itself or releases a count below k.

    ``data`` is the file's content as :func:`~cohortaudit.sites.export.read_site_file` returns
    it (format, version and content hash already checked); ``min_cell`` is the coordinator's
    k, used when it is larger than the file's own. Nothing is changed: the file passes whole
    or is refused with an :class:`InputError` that names the file, the group and the field.
    """
    where = _Where(file_name, data.get("site"))
    if not isinstance(data.get("site"), str) or not data["site"].strip():
        raise where.fail("'site' is not a non-empty text")
    for key in ("model", "settings", "value_order", "tool"):
        if not isinstance(data.get(key), dict):
            raise where.fail(f"'{key}' is not an object")
    _check_facts(data, where)
    _check_cohort_facts(data.get("cohort"), where)
    k_file, threshold, features, max_order = _check_settings(data["settings"], where)
    k = max(k_file, min_cell or 0)
    _check_cohort_caveats(data.get("cohort") or {}, where, k_file=k_file, k=k)
    edges = _check_partitions(data.get("partitions"), where, threshold, features, max_order)
    released = _check_groups(data.get("groups"), where, edges, k_file=k_file, k=k)
    _check_partition_totals(edges, released, where)


def _check_facts(data: dict[str, Any], where: _Where) -> None:
    """The identity facts pooling copies into the result have the types it expects."""
    model = data["model"]
    for key in ("kind", "sha256"):
        if not isinstance(model.get(key), str):
            raise where.fail(f"'model.{key}' is not a text")
    if not isinstance(model.get("card") or {}, dict):
        raise where.fail("'model.card' is not an object")
    if not isinstance(data["tool"].get("version"), str):
        raise where.fail("'tool.version' is not a text")
    for col, values in data["value_order"].items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise where.fail(f"'value_order.{col}' is not a list of texts")


def _check_cohort_facts(cohort: Any, where: _Where) -> None:
    if cohort is None:
        return
    if not isinstance(cohort, dict):
        raise where.fail("'cohort' is not an object")
    sha = cohort.get("sha256")
    if sha is not None and not isinstance(sha, str):
        raise where.fail("'cohort.sha256' is not a text")
    sel = cohort.get("where", {})
    if not isinstance(sel, dict) or not all(
        isinstance(c, str) and isinstance(v, str) for c, v in sel.items()
    ):
        raise where.fail("'cohort.where' is not an object of COLUMN: VALUE texts")


def _check_cohort_caveats(cohort: dict, where: _Where, *, k_file: int, k: int) -> None:
    """The cohort caveats a site file carries state no count below k (export sends only those)."""
    caveats = cohort.get("caveats", [])
    if not isinstance(caveats, list) or not all(
        isinstance(c, dict) and isinstance(c.get("where", {}), dict) for c in caveats
    ):
        raise where.fail("'cohort.caveats' is not a list of caveats")
    for c in caveats:
        for key, value in c.get("where", {}).items():
            if _is_int(value) and 0 < value < k:
                what = f"the cohort caveat {c.get('code')!r} states {key} ="
                raise _below_k(where, what, value, k_file, k)


def _check_settings(settings: dict[str, Any], where: _Where) -> tuple[int, float, list, int]:
    k = settings.get("min_cell")
    if not _is_int(k) or k < 0:
        raise where.fail(f"'settings.min_cell' must be an integer >= 0. Got {k!r} instead")
    t = settings.get("threshold")
    if not _is_number(t) or not 0.0 <= t <= 1.0:
        raise where.fail(f"'settings.threshold' must be a number in [0, 1]. Got {t!r} instead")
    features = settings.get("sensitive_features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise where.fail("'settings.sensitive_features' is not a list of column names")
    order = settings.get("max_intersection_order")
    if not _is_int(order) or order < 1:
        raise where.fail(
            f"'settings.max_intersection_order' must be an integer >= 1. Got {order!r} instead"
        )
    conf = settings.get("confidence")
    if not _is_number(conf) or not 0.0 < conf < 1.0:
        raise where.fail(f"'settings.confidence' must be a number in (0, 1). Got {conf!r}")
    if not _is_number(settings.get("clip")):
        raise where.fail("'settings.clip' is not a number")
    if not isinstance(settings.get("label"), str):
        raise where.fail("'settings.label' is not a text")
    if not isinstance(settings.get("bins"), dict):
        raise where.fail("'settings.bins' is not an object")
    grid = settings.get("score_grid")
    if not isinstance(grid, dict) or not _is_int(grid.get("bins")):
        raise where.fail("'settings.score_grid' is not an object with an integer 'bins'")
    return k, float(t), features, order


def _check_partitions(
    partitions: Any, where: _Where, threshold: float, features: list, max_order: int
) -> dict[tuple[str, ...], np.ndarray]:
    """Partition attributes -> its score-bin edges, after checking both."""
    if not isinstance(partitions, list) or not partitions:
        raise where.fail("'partitions' is not a non-empty list")
    grid = score_grid_edges(threshold)
    out: dict[tuple[str, ...], np.ndarray] = {}
    for part in partitions:
        if not isinstance(part, dict) or not isinstance(part.get("attributes"), list):
            raise where.fail("a partition is not an object with a list of 'attributes'")
        attrs = tuple(part["attributes"])
        name = " x ".join(map(str, attrs)) or "overall"
        if (
            not all(isinstance(a, str) and a in features for a in attrs)
            or len(set(attrs)) != len(attrs)
            or len(attrs) > max_order
        ):
            raise where.fail(
                f"partition {name} is not a combination of at most {max_order} of the "
                f"sensitive features {features}"
            )
        if attrs in out:
            raise where.fail(f"partition {name} is listed twice")
        e = part.get("edges")
        if not isinstance(e, list) or len(e) < 2 or not all(_is_number(x) for x in e):
            raise where.fail(f"partition {name}: 'edges' is not a list of at least 2 numbers")
        arr = np.asarray(e, dtype=np.float64)
        if arr[0] != 0.0 or arr[-1] != 1.0 or np.any(np.diff(arr) <= 0):
            raise where.fail(
                f"partition {name}: the score-bin edges must rise strictly from 0 to 1. Got "
                f"{len(e)} edges from {e[0]!r} to {e[-1]!r}"
                + (", not sorted" if np.any(np.diff(arr) <= 0) else "")
            )
        off = ~np.isin(arr, grid)
        if off.any():
            raise where.fail(
                f"partition {name}: the edge {float(arr[off][0])!r} is not an edge of the "
                f"fine score grid (multiples of 0.001 and the threshold {threshold!r})"
            )
        out[attrs] = arr
    if () not in out:
        raise where.fail("there is no partition for the whole cohort (attributes [])")
    return out


def _check_groups(
    groups: Any,
    where: _Where,
    edges: dict[tuple[str, ...], np.ndarray],
    *,
    k_file: int,
    k: int,
) -> dict[tuple[tuple[str, ...], tuple[str, ...]], dict | None]:
    """(attributes, values) -> the released record, or None when withheld."""
    if not isinstance(groups, list):
        raise where.fail("'groups' is not a list")
    out: dict[tuple[tuple[str, ...], tuple[str, ...]], dict | None] = {}
    for rec in groups:
        if not isinstance(rec, dict) or not isinstance(rec.get("attributes"), dict):
            raise where.fail("a group is not an object with 'attributes'")
        attrs = rec["attributes"]
        label = _label(attrs)
        if not all(isinstance(v, str) for v in attrs.values()):
            raise where.fail(f"{label}: its attribute values are not texts")
        key = (tuple(attrs), tuple(attrs.values()))
        if key[0] not in edges:
            raise where.fail(f"{label}: there is no partition {' x '.join(key[0])}")
        if key in out:
            raise where.fail(f"{label} is listed twice")
        if not isinstance(rec.get("suppressed"), bool):
            raise where.fail(f"{label}: 'suppressed' is not true or false")
        if rec["suppressed"]:
            extra = sorted(set(rec) - _WITHHELD_KEYS)
            if extra:
                raise where.fail(
                    f"{label} is withheld but carries {', '.join(extra)}: a withheld group "
                    "must carry no numbers (disclosure rule 1)",
                    "Refused without pooling: ask the site to re-export with "
                    "'cohortaudit site-export', which writes no numbers for withheld groups.",
                )
            out[key] = None
            continue
        _check_released_group(rec, where, label, edges[key[0]], k_file=k_file, k=k)
        out[key] = rec
    if ((), ()) not in out:
        raise where.fail("there is no group for the whole cohort (attributes {})")
    return out


def _below_k(where: _Where, what: str, value: int, k_file: int, k: int) -> InputError:
    if value < k_file:
        return where.fail(
            f"{what} {value}, a count between 1 and {k_file - 1} that the file's own "
            f"minimum cell (min_cell = {k_file}) forbids; a correct 'cohortaudit site-export' "
            "never writes one",
            "Refused without pooling (a count below k may identify patients): ask the site "
            "for a file written by 'cohortaudit site-export'.",
        )
    return where.fail(
        f"{what} {value}, below this pool's --min-cell {k} (the site exported with "
        f"min_cell = {k_file})",
        f"Ask every site to re-export with --min-cell {k}, or pool with the sites' k.",
    )


def _check_released_group(
    rec: dict, where: _Where, label: str, edges: np.ndarray, *, k_file: int, k: int
) -> None:
    n, events = rec.get("n"), rec.get("events")
    for field, v in (("n", n), ("events", events)):
        if not _is_int(v) or v < 0:
            raise where.fail(f"{label}: '{field}' must be a non-negative integer. Got {v!r}")
    if events > n:
        raise where.fail(f"{label} says events = {events} but n = {n}")
    for field, v in (("events", events), ("non-events (n - events)", n - events)):
        if v < k:
            raise _below_k(where, f"{label} is released with {field} =", v, k_file, k)
    sums, hist = rec.get("sums"), rec.get("histogram")
    if not isinstance(sums, dict) or set(sums) != set(SUM_KEYS):
        raise where.fail(f"{label}: 'sums' must hold exactly {', '.join(SUM_KEYS)}")
    for key in SUM_KEYS:
        if not _is_number(sums[key]):
            raise where.fail(f"{label}: 'sums.{key}' is not a finite number")
    if not isinstance(hist, dict) or set(hist) != set(HISTOGRAM_KEYS):
        raise where.fail(f"{label}: 'histogram' must hold exactly {', '.join(HISTOGRAM_KEYS)}")
    n_bins = len(edges) - 1
    for key in HISTOGRAM_KEYS:
        values = hist[key]
        check = _is_int if key in _COUNT_KEYS else _is_number
        if not isinstance(values, list) or len(values) != n_bins:
            raise where.fail(
                f"{label}: 'histogram.{key}' must be a list of {n_bins} values, one per score "
                f"bin of its partition. Got {len(values) if isinstance(values, list) else 0}"
            )
        counts_key = key in _COUNT_KEYS
        if not all(check(x) and not (counts_key and not 0 <= x <= n) for x in values):
            kind = f"an integer in [0, n = {n}]" if counts_key else "a finite number"
            raise where.fail(f"{label}: 'histogram.{key}' holds a value that is not {kind}")
    counts = {key: np.asarray(hist[key], dtype=np.int64) for key in _COUNT_KEYS}
    # disclosure first: a count below k is refused as such, whatever else is wrong
    _check_bins_disclosure(counts, where, label, edges, k_file=k_file, k=k)
    for key, total in (("events", events), ("non_events", n - events)):
        got = int(counts[key].sum())
        if got != total:
            stated = f"events = {events}" if key == "events" else f"n - events = {total}"
            raise where.fail(f"{label} says {stated} but its '{key}' histogram sums to {got}")
    _check_bin_sums(hist, counts, where, label, edges)
    _check_group_sums(sums, hist, counts, where, label, edges, n=n, events=events)


def _check_bins_disclosure(counts, where, label, edges, *, k_file: int, k: int) -> None:
    """Every bin count, and every count above / below an edge, is 0 or >= k (rule 4)."""
    for key, c in counts.items():
        bad = np.flatnonzero((c > 0) & (c < k))
        if bad.size:
            j = int(bad[0])
            what = f"{label}: bin [{edges[j]:g}, {edges[j + 1]:g}) of histogram '{key}' holds"
            raise _below_k(where, what, int(c[j]), k_file, k)
        below = np.cumsum(c)[:-1]
        above = int(c.sum()) - below
        for side, arr in (("below", below), ("at or above", above)):
            bad = np.flatnonzero((arr > 0) & (arr < k))
            if bad.size:
                j = int(bad[0])
                what = f"{label}: the '{key}' count {side} the bin edge {edges[j + 1]:g} is"
                raise _below_k(where, what, int(arr[j]), k_file, k)


def _clipped_edges(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest clipped risk each bin can hold (a bin's scores are clipped)."""
    return np.maximum(edges[:-1], CLIP), np.minimum(edges[1:], 1.0 - CLIP)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _check_bin_sums(hist, counts, where, label, edges) -> None:
    """Each bin's risk and logit sums fit its count and its range of risks."""
    lo, hi = _clipped_edges(edges)
    for outcome in _COUNT_KEYS:
        c = counts[outcome].astype(np.float64)
        for key, low, high in (
            (f"sum_p_{outcome}", c * lo, c * hi),
            (f"sum_logit_{outcome}", c * _logit(lo), c * _logit(hi)),
        ):
            s = np.asarray(hist[key], dtype=np.float64)
            tol = _REL_TOL * np.maximum(1.0, np.maximum(np.abs(low), np.abs(high)))
            bad = np.flatnonzero((s < low - tol) | (s > high + tol))
            if bad.size:
                j = int(bad[0])
                raise where.fail(
                    f"{label}: bin [{edges[j]:g}, {edges[j + 1]:g}) of histogram '{key}' is "
                    f"{s[j]:.6g}, outside [{low[j]:.6g}, {high[j]:.6g}], the range its "
                    f"{int(c[j])} {outcome.replace('_', '-')} can give"
                )
        s1 = np.asarray(hist[f"sum_logit_{outcome}"], dtype=np.float64)
        s2 = np.asarray(hist[f"sum_logit2_{outcome}"], dtype=np.float64)
        # Cauchy-Schwarz: count x sum of squares >= (sum)^2; an empty bin has no sums
        tol = _REL_TOL * np.maximum(1.0, s1 * s1)
        bad = np.flatnonzero((c * s2 < s1 * s1 - tol) | ((c == 0) & (s2 != 0)))
        if bad.size:
            j = int(bad[0])
            raise where.fail(
                f"{label}: bin [{edges[j]:g}, {edges[j + 1]:g}) of histogram "
                f"'sum_logit2_{outcome}' is {s2[j]:.6g}, too small for its count {int(c[j])} "
                f"and logit sum {s1[j]:.6g} (count x sum of squares >= sum^2)"
            )


def _check_group_sums(sums, hist, counts, where, label, edges, *, n: int, events: int) -> None:
    """The group's stated sums agree with its histogram and with each other."""
    tol = _tol(n)
    for outcome in _COUNT_KEYS:
        key = f"sum_p_{outcome}"
        got = float(np.sum(np.asarray(hist[key], dtype=np.float64)))
        if abs(got - sums[key]) > tol:
            raise where.fail(
                f"{label} says {key} = {sums[key]:.10g} but its histogram's '{key}' sums to "
                f"{got:.10g}"
            )
    sp1, sp0 = sums["sum_p_events"], sums["sum_p_non_events"]
    sq, sq_raw = sums["sum_sq_error"], sums["sum_sq_error_raw"]
    # (y - p)(1 - 2p) = 2 (p - y)^2 - y + p (y = 1) or - p (y = 0), summed: an identity
    expected = 2.0 * sq - events + sp1 - sp0
    if abs(sums["spiegelhalter_num"] - expected) > 10 * tol:
        raise where.fail(
            f"{label} says spiegelhalter_num = {sums['spiegelhalter_num']:.10g} but its other "
            f"sums give 2 sum_sq_error - events + sum_p_events - sum_p_non_events = "
            f"{expected:.10g}"
        )
    # sum of p^2 over the group, from the clipped Brier sum, lies within the bins' ranges
    lo, hi = _clipped_edges(edges)
    total = (counts["events"] + counts["non_events"]).astype(np.float64)
    sum_p2 = sq - events + 2.0 * sp1
    low, high = float(np.sum(total * lo * lo)), float(np.sum(total * hi * hi))
    if not low - 10 * tol <= sum_p2 <= high + 10 * tol:
        raise where.fail(
            f"{label} says sum_sq_error = {sq:.10g}, which puts the sum of squared risks at "
            f"{sum_p2:.10g}, outside [{low:.10g}, {high:.10g}] that its histogram allows"
        )
    if abs(sq_raw - sq) > 2.0 * CLIP * n + tol:
        raise where.fail(
            f"{label} says sum_sq_error_raw = {sq_raw:.10g} and sum_sq_error = {sq:.10g}; "
            f"clipping risks to [{CLIP:g}, 1 - {CLIP:g}] cannot move them that far apart"
        )
    var = sums["spiegelhalter_var"]
    if not -tol <= var <= n / 16.0 + tol:
        raise where.fail(
            f"{label} says spiegelhalter_var = {var:.10g}, outside [0, n/16 = {n / 16.0:.10g}]"
        )


def _check_partition_totals(
    edges: dict[tuple[str, ...], np.ndarray],
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], dict | None],
    where: _Where,
) -> None:
    """The released children of a group add up to at most the group, exactly when none is
    withheld: every patient is in one group of each partition (missing values included)."""
    children: dict[tuple, list[tuple[tuple, dict | None]]] = {}
    for (attrs, values), rec in groups.items():
        for i in range(len(attrs)):
            parent = (attrs[:i] + attrs[i + 1 :], values[:i] + values[i + 1 :])
            children.setdefault((attrs, i, parent), []).append(((attrs, values), rec))
    for attrs in edges:
        for i in range(len(attrs)):
            parent_attrs = attrs[:i] + attrs[i + 1 :]
            for (pa, pv), prec in groups.items():
                if pa != parent_attrs or prec is None:
                    continue
                kids = children.get((attrs, i, (pa, pv)), [])
                _check_family(prec, dict(zip(pa, pv, strict=True)), attrs, kids, where)


def _check_family(parent: dict, parent_attrs, attrs, kids, where: _Where) -> None:
    released = [rec for _, rec in kids if rec is not None]
    complete = len(released) == len(kids)
    part = " x ".join(attrs)
    plabel = _label(parent_attrs)
    fix = "" if complete else " (some are withheld, so at most)"
    for field, value in (
        ("n", lambda r: r["n"]),
        ("events", lambda r: r["events"]),
        ("non-events", lambda r: r["n"] - r["events"]),
    ):
        total, stated = sum(value(r) for r in released), value(parent)
        if total > stated or (complete and total != stated):
            raise where.fail(
                f"the groups of partition {part} within {plabel} hold {field} = {total} in "
                f"all, but {plabel} says {field} = {stated}; every patient is in exactly one "
                f"group of a partition, so they must add up to it{fix}"
            )
    if not complete:
        return
    tol = _tol(parent["n"])
    for key in SUM_KEYS:
        total = math.fsum(r["sums"][key] for r in released)
        if abs(total - parent["sums"][key]) > 10 * tol:
            raise where.fail(
                f"the groups of partition {part} within {plabel} hold {key} = {total:.10g} "
                f"in all, but {plabel} says {key} = {parent['sums'][key]:.10g}"
            )


# --------------------------------------------------------------------------------------------
# files against each other
# --------------------------------------------------------------------------------------------


def check_no_duplicate_cohorts(
    sites: Sequence[dict[str, Any]],
    file_names: Sequence[str],
    *,
    fingerprint: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    """Refuse two files that would count the same patients twice.

    Two files hold (some of) the same patients when they were exported from the same cohort
    file (same SHA-256) with ``--where`` selections that can overlap (they overlap unless they
    give one column two different values), or when every released group's numbers are
    identical (a copy under another site name; re-hashing does not hide it). Run after
    :func:`check_site_file`, so both fields have their format. ``fingerprint``: the numbers of a
    file's released groups as one hash (default: the binary site file's;
    :func:`released_numbers_fingerprint` for other formats).
    """
    prints = [(fingerprint or _fingerprint)(d) for d in sites]
    for i in range(len(sites)):
        for j in range(i + 1, len(sites)):
            reason = _same_patients(sites[i], sites[j], prints[i], prints[j])
            if reason:
                a, b = sites[i], sites[j]
                raise InputError(
                    f"The site files '{file_names[i]}' (site {a['site']!r}) and "
                    f"'{file_names[j]}' (site {b['site']!r}) {reason}: the same patients would "
                    "be counted twice. Pool each cohort once; if these are two sites sharing "
                    "one cohort file, each must export only its own rows (--where site=NAME)."
                )


def _same_patients(a: dict, b: dict, print_a: str | None, print_b: str | None) -> str | None:
    ca, cb = a.get("cohort") or {}, b.get("cohort") or {}
    sha = ca.get("sha256")
    if isinstance(sha, str) and sha == cb.get("sha256"):
        wa, wb = dict(ca.get("where") or {}), dict(cb.get("where") or {})
        disjoint = any(col in wb and wb[col] != value for col, value in wa.items())
        if not disjoint:
            same = "the same selection" if wa == wb else "overlapping selections"
            return (
                f"were exported from the same cohort file (SHA-256 {sha[:12]}...) with {same} "
                f"({_selection(wa)} and {_selection(wb)})"
            )
    if print_a is not None and print_a == print_b:
        return "hold identical aggregates (every count and sum of every released group is the same)"
    return None


def _selection(where: dict[str, str]) -> str:
    if not where:
        return "all rows"
    return "--where " + " ".join(f"{c}={v}" for c, v in sorted(where.items()))


def released_numbers_fingerprint(data: dict[str, Any]) -> str | None:
    """SHA-256 of every released group's record without its name (``attributes``): for site
    files whose groups hold other numbers than the binary ones (time-to-event life tables)."""
    numbers = [
        {k: v for k, v in g.items() if k != "attributes"}
        for g in data.get("groups") or []
        if isinstance(g, dict) and not g.get("suppressed")
    ]
    if not numbers:
        return None
    text = json.dumps(numbers, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fingerprint(data: dict[str, Any]) -> str | None:
    """SHA-256 of the numbers of every released group, without names: a renamed copy keeps it."""
    numbers = [
        [g["n"], g["events"], g["sums"], g["histogram"]]
        for g in data["groups"]
        if not g["suppressed"]
    ]
    if not numbers:
        return None
    text = json.dumps(numbers, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_compatible(sites: list[dict[str, Any]], names: list[str]) -> None:
    """The files can be pooled together: distinct site names, the same model and card, and
    the same export settings (the first difference is raised, naming both files)."""
    seen: dict[str, str] = {}
    for d, f in zip(sites, names, strict=True):
        if d["site"] in seen:
            raise InputError(
                f"Two site files name the same site {d['site']!r}: '{seen[d['site']]}' and "
                f"'{f}'. Give each site's file once (each site exports with its own --site)."
            )
        seen[d["site"]] = f
    first, f0 = sites[0], names[0]
    for d, f in zip(sites[1:], names[1:], strict=True):
        for key, what in (("sha256", "model SHA-256"), ("card_sha256", "model card SHA-256")):
            a, b = first["model"].get(key), d["model"].get(key)
            if a != b:
                raise InputError(
                    f"The site file '{f}' (site {d['site']!r}) was exported with a different "
                    f"{what} ({str(b)[:12]}...) than '{f0}' (site {first['site']!r}, "
                    f"{str(a)[:12]}...). Only audits of the same model file can be pooled: "
                    "re-export that site with the shared model."
                )
        for key in sorted(set(first["settings"]) | set(d["settings"])):
            a, b = first["settings"].get(key), d["settings"].get(key)
            if a != b:
                raise InputError(
                    f"The site file '{f}' (site {d['site']!r}) was exported with the setting "
                    f"'{key}' = {_short(b)}, but '{f0}' (site {first['site']!r}) used "
                    f"{_short(a)}. Every site must export with the same settings: re-export "
                    "with identical --label, --sensitive, --bins, --threshold, --min-cell and "
                    "--max-order."
                )


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."
