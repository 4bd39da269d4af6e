"""Site export: the aggregate, disclosure-safe sufficient statistics one data holder shares.

Under the EHDS each data holder audits the shared model inside its own secure processing
environment and exports only non-personal aggregates; a coordinator pools them
(:mod:`cohortaudit.sites.pool`). This module writes what leaves a site. Nothing row-level is
in the file: no prediction, no residual, no minimum or maximum, no row count of a subset below k.

What a site file carries, for the whole cohort and every group of every partition the audit
would report (single attributes and intersections up to ``max_intersection_order``):

* ``n`` and ``events`` (released groups only: >= k events and >= k non-events, REFERENCE.md
  rule 1, with the engine's secondary suppression, rule 3; withheld groups are listed as
  suppressed with no numbers, exactly as in ``audit.json``);
* exact sums for the calibration and accuracy metrics that decompose into sums: the sum of the
  (clipped) predicted risks per outcome, the Brier sums (raw and clipped), and the
  Spiegelhalter numerator and variance sums;
* a **score histogram per outcome** on a fixed fine grid: 1000 equal-width bins of predicted
  risk on [0, 1] (bin j = [j/1000, (j+1)/1000), the last closed; a risk on an edge belongs to
  the bin above, the same side as *positive iff p >= t*), plus the operating threshold as an
  extra edge when it is not a multiple of 0.001. Per bin and outcome: the count, the sum of
  the clipped risks, and the sum and sum of squares of their logits (for the binned federated
  calibration fit).

**Coarsening rule (disclosure rule 4).** Fine bins are merged into wider bins shared by every
group of a partition, so that every released group's count of events and of non-events in
every merged bin is 0 or >= k. The same test covers the *complement* of each
sibling family with a withheld member (parent minus its released children), so a withheld
group's histogram cannot be recovered by subtraction either (when the complement's totals are
themselves below k, the group totals are already derivable from released counts under the
house rules, and the complement is not tested). The merge works top-down: one bin [0, 1] is
split at a candidate edge only when both parts pass the test; candidates are tried in order of
priority -- the operating threshold, the multiples of 0.1 (ECE bins), of 0.05 (risk
histogram), the 99 thresholds of the grid (0.01..0.99), then every fine edge left to right --
so those edges are kept wherever the data allow, and confusion counts at a kept threshold are
*sums of bins* and pool exactly. A consequence: every count derivable from one group's histogram by adding bins (confusion counts
at any released threshold included) is 0 or >= k, and no count 1..k-1 appears anywhere in the
file. Zero counts are shown (rule 4 suppresses 0 < count < k).

The file states the model SHA-256, the tool version, the exact settings, the site name and a
SHA-256 of its own canonical content (``content_sha256``), so an edited file is detected when it
is pooled. (The hash detects changes, it does not prove who wrote the file: for that, sign it.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cohortaudit import __version__
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, InputError, ReportError
from cohortaudit.metrics.calibration import CLIP
from cohortaudit.metrics.subgroups import THRESHOLD_GRID
from cohortaudit.outputs import write_output
from cohortaudit.safeload import parse_json, read_limited

if TYPE_CHECKING:
    from cohortaudit.disclosure import DisclosureDecision
    from cohortaudit.metrics.table import GroupTable

__all__ = [
    "SITE_FORMAT",
    "SITE_FORMAT_VERSION",
    "SCORE_BINS",
    "score_grid_edges",
    "build_site_export",
    "check_site_name",
    "merge_edges",
    "export_site",
    "score_site",
    "ScoredSite",
    "parse_where",
    "site_json",
    "content_sha256",
    "write_site_file",
    "read_site_file",
]

SITE_FORMAT = "cohortaudit-site-export"
SITE_FORMAT_VERSION = "1.0.0"
#: A site file holds aggregates (about 300 KB for the sample); far above that it is not one.
MAX_SITE_FILE_BYTES = 64 * 2**20
#: Equal-width bins of predicted risk on [0, 1] before coarsening.
SCORE_BINS = 1000

HISTOGRAM_KEYS = (
    "events",
    "non_events",
    "sum_p_events",
    "sum_p_non_events",
    "sum_logit_events",
    "sum_logit_non_events",
    "sum_logit2_events",
    "sum_logit2_non_events",
)

GRID_DESCRIPTION = (
    f"{SCORE_BINS} equal-width bins of predicted risk on [0, 1]: bin j = [j/{SCORE_BINS}, "
    f"(j+1)/{SCORE_BINS}), the last closed, plus the operating threshold as an extra edge when "
    "it is not on that grid; then merged per partition so that every released group's count "
    "of events and of non-events in every bin is 0 or >= k (thresholds of the grid kept as "
    "edges wherever the data allow)"
)


def score_grid_edges(threshold: float) -> np.ndarray:
    """The fine grid's edges: j/1000 for j = 0..1000, plus ``threshold`` if not among them.

    Every threshold of ``THRESHOLD_GRID`` (t = 0.01..0.99) is an edge: ``j/1000`` and
    ``round(i/100, 2)`` are the same correctly rounded float for equal fractions.
    """
    edges = np.arange(SCORE_BINS + 1, dtype=np.float64) / SCORE_BINS
    return np.unique(np.append(edges, float(threshold)))


def _priority_levels(edges: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Fine-edge indices to try as bin edges, most wanted first.

    The operating threshold, then the ECE edges (multiples of 0.1), the risk-histogram edges
    (multiples of 0.05), the threshold grid (0.01..0.99), and last every fine edge.
    """
    levels = [
        np.flatnonzero(edges == float(threshold)),
        np.flatnonzero(np.isin(edges, np.arange(1, 10) / 10)),
        np.flatnonzero(np.isin(edges, np.round(np.arange(1, 20) / 20, 2))),
        np.flatnonzero(np.isin(edges, THRESHOLD_GRID)),
    ]
    levels.append(np.arange(1, len(edges) - 1))
    return levels


def _fine_bin(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fine bin of each score: a score on an edge goes to the bin above; 1.0 to the last bin."""
    idx = np.searchsorted(edges, scores, side="right") - 1
    return np.clip(idx, 0, len(edges) - 2)


def _passes(counts: np.ndarray, k: int) -> bool:
    return bool(np.all((counts == 0) | (counts >= k)))


def merge_edges(fine: np.ndarray, k: int, levels: list[np.ndarray]) -> list[int]:
    """Indices of the fine edges kept, for the counts ``fine`` of shape (V, 2, F).

    Top-down: start from one bin [0, F] and split a bin at a candidate edge only when both
    parts pass the test (every count 0 or >= k). Candidates come level by level (see
    :func:`_priority_levels`), so the operating threshold and the grids' edges are kept
    whenever the data allow; within the last level (every fine edge) the scan runs left to
    right and does not split off empty bins. The result always starts at 0 and ends at F.
    """
    import bisect

    n_fine = fine.shape[-1]
    cum = np.concatenate(
        [np.zeros(fine.shape[:-1] + (1,), dtype=np.int64), np.cumsum(fine, axis=-1)], axis=-1
    )
    kept = [0, n_fine]
    last = len(levels) - 1
    for li, level in enumerate(levels):
        for e in level.tolist():
            i = bisect.bisect_left(kept, e)
            if kept[i] == e:
                continue
            a, b = kept[i - 1], kept[i]
            left = cum[..., e] - cum[..., a]
            right = cum[..., b] - cum[..., e]
            if li == last and (not left.any() or not right.any()):
                continue
            if _passes(left, k) and _passes(right, k):
                kept.insert(i, e)
    return kept


def _families(partitions) -> list[tuple[int, int, int, list[int]]]:
    """Sibling sets (partition, parent partition, parent group, members), as disclosure.py."""
    from cohortaudit.disclosure import sibling_families

    return sibling_families(partitions)


def build_site_export(
    y_score: np.ndarray,
    y_true: np.ndarray,
    groups: pd.DataFrame,
    *,
    config: AuditConfig,
    threshold: float,
    threshold_source: str,
    site: str,
    model: dict[str, Any],
    cohort: dict[str, Any],
) -> dict[str, Any]:
    """The site file's content (a plain dict), disclosure control applied. No I/O.

    ``groups`` has one column of string labels per sensitive feature (``Cohort.groups``);
    ``model`` and ``cohort`` are identity facts (hashes, names) copied into the file.
    """
    check_site_name(site)
    k = config.min_cell
    y_score = np.asarray(y_score, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int8)
    frame = groups[list(config.sensitive_features)]
    table, decision = _site_table(y_score, y, frame, config=config, threshold=threshold)
    edges = score_grid_edges(threshold)
    fine = _fine_statistics(table, y_score, y, edges)
    complements = _complements(table, decision.hidden, fine.counts, k)
    log = [e.to_dict() for e in decision.log if e.action == "group suppressed"]
    partitions_out: list[dict[str, Any]] = []
    groups_out: list[dict[str, Any]] = []
    levels = _priority_levels(edges, threshold)
    for pi, part in enumerate(table.partitions):
        kept, coarsened = _coarsen_partition(
            part, decision.hidden[pi], fine.counts[pi], complements.get(pi, []), edges, levels, k
        )
        log.extend(coarsened)
        partitions_out.append(
            {"attributes": list(part.attributes), "edges": [float(e) for e in edges[kept]]}
        )
        groups_out.extend(_partition_groups(table, decision, fine, pi, kept[:-1], k))
    data: dict[str, Any] = {
        "format": SITE_FORMAT,
        "format_version": SITE_FORMAT_VERSION,
        "tool": {"name": "cohortaudit", "version": __version__},
        "site": site.strip(),
        "model": model,
        "cohort": cohort,
        "settings": site_settings(config, threshold=threshold, threshold_source=threshold_source),
        "value_order": _value_order(frame, config.sensitive_features),
        "partitions": partitions_out,
        "groups": groups_out,
        "disclosure_log": log,
    }
    data["content_sha256"] = content_sha256(data)
    return data


@dataclass(frozen=True)
class _FineStatistics:
    """Per partition, arrays of shape (groups, 2 outcomes, fine bins) of the histogram
    statistics, and of shape (groups, 6) of the exact sums: computed once, before coarsening."""

    counts: tuple[np.ndarray, ...]
    sum_p: tuple[np.ndarray, ...]
    sum_lp: tuple[np.ndarray, ...]
    sum_lp2: tuple[np.ndarray, ...]
    group_sums: tuple[np.ndarray, ...]


def check_site_name(site: str) -> None:
    """Refuse an empty site name: the coordinator tells the files apart by it."""
    if not isinstance(site, str) or not site.strip():
        raise ConfigError("The site name (--site) must be a non-empty text, e.g. --site DE-Berlin.")


def _site_table(
    y_score: np.ndarray,
    y: np.ndarray,
    frame: pd.DataFrame,
    *,
    config: AuditConfig,
    threshold: float,
) -> tuple[GroupTable, DisclosureDecision]:
    """The engine's table and its disclosure decision, because they give the partitions, the
    group order and rules 1 and 3 (group suppression) exactly as a local audit has them."""
    from cohortaudit.disclosure import apply_disclosure
    from cohortaudit.metrics.subgroups import compute_point_estimates

    table = compute_point_estimates(
        y_score,
        y,
        frame,
        threshold=threshold,
        z=config.z,
        max_order=config.max_intersection_order,
        min_cell=config.min_cell,
    )
    return table, apply_disclosure(table, k=config.min_cell)


def _fine_statistics(
    table: GroupTable, y_score: np.ndarray, y: np.ndarray, edges: np.ndarray
) -> _FineStatistics:
    """Every group's statistics on the fine grid and its exact sums, because coarsening and
    the group records only add these up."""
    n_fine = len(edges) - 1
    fine_bin = _fine_bin(y_score, edges)
    p = np.clip(y_score, CLIP, 1.0 - CLIP)
    lp = np.log(p) - np.log1p(-p)
    yf = y.astype(np.float64)
    sq_raw = (y_score - yf) ** 2
    sq = (p - yf) ** 2
    sp_num = (yf - p) * (1.0 - 2.0 * p)
    sp_var = (1.0 - 2.0 * p) ** 2 * p * (1.0 - p)

    counts, sum_p, sum_lp, sum_lp2, group_sums = [], [], [], [], []
    for part in table.partitions:
        n_groups = len(part.keys)
        gi = part.cell_to_group[table.cell]
        flat = (gi * 2 + y) * n_fine + fine_bin
        size = n_groups * 2 * n_fine
        shape = (n_groups, 2, n_fine)
        counts.append(np.bincount(flat, minlength=size).reshape(shape).astype(np.int64))
        sum_p.append(np.bincount(flat, weights=p, minlength=size).reshape(shape))
        sum_lp.append(np.bincount(flat, weights=lp, minlength=size).reshape(shape))
        sum_lp2.append(np.bincount(flat, weights=lp * lp, minlength=size).reshape(shape))
        group_sums.append(
            np.stack(
                [
                    np.bincount(gi, weights=w, minlength=n_groups)
                    for w in (p * yf, p * (1 - yf), sq_raw, sq, sp_num, sp_var)
                ],
                axis=1,
            )
        )
    return _FineStatistics(
        counts=tuple(counts),
        sum_p=tuple(sum_p),
        sum_lp=tuple(sum_lp),
        sum_lp2=tuple(sum_lp2),
        group_sums=tuple(group_sums),
    )


def _complements(
    table: GroupTable,
    hidden: Sequence[Sequence[bool]],
    fine_counts: Sequence[np.ndarray],
    k: int,
) -> dict[int, list[np.ndarray]]:
    """Per child partition, the fine counts of each sibling family's complement (parent minus
    released children) where a member is withheld, so coarsening keeps it unrecoverable."""
    complements: dict[int, list[np.ndarray]] = {}
    for pc, pp, pg, members in _families(table.partitions):
        if hidden[pp][pg] or not any(hidden[pc][g] for g in members):
            continue
        comp = fine_counts[pp][pg] - sum(
            (fine_counts[pc][g] for g in members if not hidden[pc][g]),
            np.zeros(fine_counts[pp].shape[1:], dtype=np.int64),
        )
        if _passes(comp.sum(axis=-1), k):
            complements.setdefault(pc, []).append(comp)
    return complements


def _coarsen_partition(
    part: Any,
    hidden: Sequence[bool],
    fine_counts: np.ndarray,
    complements: list[np.ndarray],
    edges: np.ndarray,
    levels: list[np.ndarray],
    k: int,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The fine-edge indices one partition keeps (rule 4), and the disclosure-log entry that
    says so when bins were merged (none otherwise)."""
    n_fine = len(edges) - 1
    released = [g for g in range(len(part.keys)) if not hidden[g]]
    virtual = [fine_counts[g] for g in released] + complements
    kept = np.asarray(merge_edges(np.stack(virtual), k, levels) if virtual else [0, n_fine])
    if len(kept) - 1 >= n_fine:
        return kept, []
    kept_edges = set(edges[kept].tolist())
    lost = [t for t in (float(t) for t in THRESHOLD_GRID) if t not in kept_edges]
    entry = {
        "where": {"partition": " x ".join(part.attributes) or "overall"},
        "rule": "4: histogram bins below k",
        "action": "score histogram coarsened",
        "reason": (
            f"the {SCORE_BINS} fine bins were merged into wider bins shared by every "
            f"group of the partition, so that every released count is 0 or at "
            f"least {k}"
            + (
                f"; confusion counts are not derivable at {len(lost)} grid "
                "threshold(s) that fall inside a merged bin"
                if lost
                else ""
            )
        ),
    }
    return kept, [entry]


def _partition_groups(
    table: GroupTable,
    decision: DisclosureDecision,
    fine: _FineStatistics,
    pi: int,
    starts: np.ndarray,
    k: int,
) -> list[dict[str, Any]]:
    """One record per group of partition ``pi``: withheld groups with their reason and no
    numbers, released ones with their sums and their histogram on the kept bins."""
    part = table.partitions[pi]
    out: list[dict[str, Any]] = []
    for g in range(len(part.keys)):
        attrs = part.attributes_of(g)
        if decision.hidden[pi][g]:
            out.append(
                {
                    "attributes": attrs,
                    "suppressed": True,
                    "suppression_reason": decision.reasons.get((pi, g), "suppressed"),
                }
            )
            continue
        c = np.add.reduceat(fine.counts[pi][g], starts, axis=-1)
        sp_ = np.add.reduceat(fine.sum_p[pi][g], starts, axis=-1)
        sl = np.add.reduceat(fine.sum_lp[pi][g], starts, axis=-1)
        sl2 = np.add.reduceat(fine.sum_lp2[pi][g], starts, axis=-1)
        if not _passes(c, k):  # pragma: no cover - guaranteed by merge_edges
            raise ReportError("Internal check failed: a histogram bin below k was produced.")
        s = fine.group_sums[pi][g]
        est = table.estimates[pi][g]
        out.append(
            {
                "attributes": attrs,
                "suppressed": False,
                "n": int(est.n),
                "events": int(est.events),
                "sums": {
                    "sum_p_events": float(s[0]),
                    "sum_p_non_events": float(s[1]),
                    "sum_sq_error_raw": float(s[2]),
                    "sum_sq_error": float(s[3]),
                    "spiegelhalter_num": float(s[4]),
                    "spiegelhalter_var": float(s[5]),
                },
                "histogram": {
                    "events": [int(x) for x in c[1]],
                    "non_events": [int(x) for x in c[0]],
                    "sum_p_events": [float(x) for x in sp_[1]],
                    "sum_p_non_events": [float(x) for x in sp_[0]],
                    "sum_logit_events": [float(x) for x in sl[1]],
                    "sum_logit_non_events": [float(x) for x in sl[0]],
                    "sum_logit2_events": [float(x) for x in sl2[1]],
                    "sum_logit2_non_events": [float(x) for x in sl2[0]],
                },
            }
        )
    return out


def _value_order(frame: pd.DataFrame, features: Sequence[str]) -> dict[str, list[str]]:
    """Each feature's values in order (categories as declared, else sorted text), so the
    coordinator lists pooled groups the way a local audit would."""
    value_order = {}
    for col in features:
        series = frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            value_order[col] = [str(v) for v in series.cat.categories]
        else:
            value_order[col] = sorted({str(v) for v in series.astype(str)})
    return value_order


def site_settings(config: AuditConfig, *, threshold: float, threshold_source: str) -> dict:
    """Every choice that must be identical at all sites for their files to pool."""
    return {
        "label": config.label,
        "sensitive_features": list(config.sensitive_features),
        "bins": {k: list(v) for k, v in config.bins.items()},
        "threshold": float(threshold),
        "threshold_source": threshold_source,
        "threshold_rule": "predicted positive iff score >= threshold",
        "min_cell": config.min_cell,
        "max_intersection_order": config.max_intersection_order,
        "confidence": config.confidence,
        "score_grid": {
            "bins": SCORE_BINS,
            "range": [0.0, 1.0],
            "description": GRID_DESCRIPTION,
            "extra_edges": sorted(
                set(score_grid_edges(threshold).tolist())
                - set((np.arange(SCORE_BINS + 1) / SCORE_BINS).tolist())
            ),
        },
        "threshold_grid": [float(t) for t in THRESHOLD_GRID],
        "clip": CLIP,
        "sums": {
            "sum_p_events / sum_p_non_events": "sum of clip(p) over events / non-events",
            "sum_sq_error_raw": "sum of (p - y)^2 (Brier)",
            "sum_sq_error": "sum of (clip(p) - y)^2 (scaled Brier)",
            "spiegelhalter_num": "sum of (y - clip(p)) (1 - 2 clip(p))",
            "spiegelhalter_var": "sum of (1 - 2 clip(p))^2 clip(p) (1 - clip(p))",
        },
    }


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_sha256(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of everything in the file except ``content_sha256``."""
    body = {k: v for k, v in data.items() if k != "content_sha256"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def site_json(data: dict[str, Any]) -> str:
    """The file's text: deterministic (insertion order, no NaN), one trailing newline."""
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_site_file(data: dict[str, Any], path: str | Path) -> Path:
    """Write the site file through the one safe output writer (:mod:`cohortaudit.outputs`)."""
    path = Path(path)
    write_output(path.parent, path.name, site_json(data))
    return path


def read_site_file(
    path: str | Path, *, kind: str = SITE_FORMAT, version: str = SITE_FORMAT_VERSION
) -> dict[str, Any]:
    """Read a site file and check its format and content hash (an edited file is refused).

    ``kind`` and ``version`` name the file format expected (the binary site file by default;
    the time-to-event site file of :mod:`cohortaudit.sites.survival_export` reads the same way).
    """
    path = Path(path)
    what = f"The site file '{path.name}'"
    advice = "Give a file written by 'cohortaudit site-export'."
    try:
        raw = read_limited(
            path,
            max_bytes=MAX_SITE_FILE_BYTES,
            what=what,
            error=InputError,
            hint=f"A site file holds aggregates only (about 300 KB). {advice}",
        )
    except FileNotFoundError:
        raise InputError(
            f"No site file at '{path}'. Give the files written by 'cohortaudit site-export'."
        ) from None
    data = parse_json(raw, what=what, error=InputError, hint=advice, reject_duplicate_keys=True)
    if not isinstance(data, dict) or data.get("format") != kind:
        raise InputError(
            f"'{path.name}' is not a cohortaudit site file (its 'format' is not "
            f"'{kind}'). Give the files written by 'cohortaudit site-export'."
        )
    major = str(data.get("format_version", "")).split(".")[0]
    if major != version.split(".")[0]:
        raise InputError(
            f"'{path.name}' has site-file version {data.get('format_version')!r}; this "
            f"cohortaudit reads version {version.split('.')[0]}.x. Re-export the "
            "site with the same cohortaudit version at every site."
        )
    stated = data.get("content_sha256")
    try:
        actual = content_sha256(data)
    except (TypeError, ValueError):
        actual = None
    if not isinstance(stated, str) or stated != actual:
        raise InputError(
            f"The site file '{path.name}' (site {data.get('site')!r}) has been altered since it "
            "was exported: its content does not match its content_sha256. Ask the site for the "
            "original file, or re-export it."
        )
    required = ("site", "model", "settings", "partitions", "groups", "value_order")
    missing = [key for key in required if key not in data]
    if missing:
        raise InputError(
            f"The site file '{path.name}' lacks {', '.join(missing)}. Re-export it with "
            "'cohortaudit site-export'."
        )
    return data


# --------------------------------------------------------------------------------------------
# from files on disk
# --------------------------------------------------------------------------------------------


def parse_where(specs: Sequence[str] | None) -> dict[str, str]:
    """``["site=DE-Berlin"]`` -> ``{"site": "DE-Berlin"}`` (rows kept where COLUMN == VALUE)."""
    out: dict[str, str] = {}
    for spec in specs or []:
        col, sep, value = spec.partition("=")
        if not sep or not col.strip() or not value.strip():
            raise ConfigError(
                f"The --where value '{spec}' is not of the form COLUMN=VALUE; for example "
                "--where site=DE-Berlin."
            )
        out[col.strip()] = value.strip()
    return out


def _filter_rows(frame: pd.DataFrame, where: dict[str, str], file_name: str) -> pd.DataFrame:
    if not where:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for col, value in where.items():
        if col not in frame.columns:
            raise ConfigError(
                f"--where names the column '{col}', which is not in the cohort '{file_name}'. "
                f"Columns: {[str(c) for c in frame.columns][:30]}."
            )
        keep &= frame[col].astype(str).str.strip().to_numpy() == value
    if not keep.any():
        raise ConfigError(
            f"--where {' '.join(f'{c}={v}' for c, v in where.items())} keeps no row of the "
            f"cohort '{file_name}'. Check the value's spelling (it is matched as text)."
        )
    return frame.loc[keep].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class ScoredSite:
    """A site's cohort loaded, checked and scored as ``cohortaudit audit`` does, with the
    model and cohort facts a site file carries (shared by the binary and the time-to-event
    site exports, :mod:`cohortaudit.sites.survival_export`)."""

    config: AuditConfig
    cohort: Any
    y_score: np.ndarray
    threshold: float
    threshold_source: str
    model: dict[str, Any]
    cohort_facts: dict[str, Any]


def score_site(
    *,
    cohort_path: str | Path,
    config: AuditConfig,
    model_path: str | Path,
    card_path: str | Path | None = None,
    where: dict[str, str] | None = None,
    trusted_types: Sequence[str] = (),
    delimiter: str | None = None,
) -> ScoredSite:
    """Load, check and score the site's cohort (``where`` keeps only the rows whose column
    equals a value, as text, so one cohort holding several sites can be exported site by site)."""
    from cohortaudit.audit import card_facts, operating_threshold
    from cohortaudit.intake.inputs import load_inputs
    from cohortaudit.scoring import score

    if config.score_column is not None:
        raise ConfigError(
            "Site export needs the model (--model): pooled sites must be checked against the "
            "same model file, which a column of predictions cannot prove."
        )
    inputs = load_inputs(
        cohort_path=cohort_path,
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        delimiter=delimiter,
        rows=lambda frame: _filter_rows(frame, dict(where or {}), Path(cohort_path).name),
    )
    card, model, cohort, cohort_sha = inputs.card, inputs.model, inputs.cohort, inputs.cohort_sha256
    y_score = np.asarray(score(model, cohort.features), dtype=np.float64)
    threshold, source = operating_threshold(config, card)
    card_file = getattr(card, "path", None)
    model_facts = {
        "kind": model.kind,
        "sha256": model.sha256,
        "file": model.path.name,
        "name": getattr(card, "name", None),
        "version": getattr(card, "version", None),
        "inputs": [i.name for i in model.inputs],
        "card_sha256": getattr(card, "sha256", None),
        "card_file": card_file.name if card_file is not None else None,
        "card": card_facts(card),
    }
    cohort_facts = {
        "file": Path(cohort_path).name,
        "sha256": cohort_sha,
        "where": dict(sorted((where or {}).items())),
        "caveats": [c.to_dict() for c in cohort.caveats if _caveat_is_safe(c, config.min_cell)],
    }
    return ScoredSite(
        config=inputs.config or config,
        cohort=cohort,
        y_score=y_score,
        threshold=threshold,
        threshold_source=source,
        model=model_facts,
        cohort_facts=cohort_facts,
    )


def export_site(*, site: str, **inputs: Any) -> dict[str, Any]:
    """Load, check and score as ``cohortaudit audit`` does (:func:`score_site`, whose keyword
    arguments these are), then build the binary site file's content."""
    scored = score_site(**inputs)
    return build_site_export(
        scored.y_score,
        scored.cohort.y_true,
        scored.cohort.groups,
        config=inputs["config"],
        threshold=scored.threshold,
        threshold_source=scored.threshold_source,
        site=site,
        model=scored.model,
        cohort=scored.cohort_facts,
    )


def _caveat_is_safe(caveat, k: int) -> bool:
    """Cohort caveats travel only when they carry no number below k (they may count rows)."""
    import re

    numbers = [int(x) for x in re.findall(r"\b\d+\b", caveat.message)]
    return all(not (0 < x < k) for x in numbers) and not any(
        isinstance(v, int) and 0 < v < k for v in caveat.where.values()
    )
