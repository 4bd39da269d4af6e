"""Pooling: site files in, one :class:`AuditResult` of the pooled cohort out.

What the coordinator can compute from the site files (:mod:`cohortaudit.sites.export`), and how:

* **Exact** (sums of the sites' sums; equal to the centralised audit up to floating-point
  summation order, ~1e-12): n, events, prevalence (Wilson CI), O/E (Poisson CI), Brier, scaled
  Brier, Spiegelhalter z and p, discrimination slope, confusion counts at every grid threshold
  (0.01..0.99) and at the operating threshold wherever no site merged a non-empty histogram bin
  across it -- hence sensitivity, specificity, PPV, NPV, ... with Wilson CIs, balanced accuracy,
  F1, ROC and PR points and the decision curve -- and ECE with its table, the risk histogram
  (same condition at the 0.1 / 0.05 edges).
* **Approximate, with a bound**: AUROC from the per-outcome histograms (pairs that fall in
  overlapping bins count one half; REFERENCE.md's formula, generalised to bins that differ
  between sites), error <= ``bound = 1/2 x (pairs in overlapping bins) / (n1 n0)``, stated per
  group in ``calibration.auroc_bin_error_bound`` and for the whole cohort in
  ``settings.bootstrap.auroc_bin_error_bound`` and ``sites``. Its CI is DeLong's on the binned
  placement values.
* **Approximate, by a federated fit**: CITL, calibration slope and recalibration intercept of
  the whole cohort and of each site, by the federated Newton protocol of
  :mod:`cohortaudit.sites.federated` on the binned logits (Wald CIs from the summed
  information; on the sample within 3e-4 of the centralised fit, < 0.01 standard errors).
  Subgroups get none (``MetricValue(None)`` and a note): their bins are shared with the
  smallest sibling group and can be so coarse that the binned fit misses the patient-level fit
  by more than its standard error (measured up to ~3 SE on small intersections of the sample).
  Exact subgroup fits need live federated rounds (sites answering each round), not files.
* **Bootstrap CIs** (:mod:`cohortaudit.sites.bootstrap`): Brier, balanced accuracy, F1, ECE,
  scaled Brier, discrimination slope, every disparity (difference and ratio, vs the reference
  group and vs the whole cohort) and the fairness summaries get percentile CIs from a seeded
  bootstrap that resamples, per partition, the patients of each site x group as one
  multinomial draw over that stratum's merged (outcome x score bin) entries. B and the seed are
  ``n_boot`` / ``seed`` (the :class:`AuditConfig` defaults unless given).
* **Not computable from aggregates** (``MetricValue(None)`` and a caveat): AUPRC, ICI, E50,
  E90, Emax (need every prediction), Hosmer-Lemeshow (needs the pooled risk deciles); so
  their disparities, and those of the subgroups' CITL and slope, have no value and no CI.

A group withheld at any site that has it (fewer than k there) is **not** pooled from the other
sites -- that would silently misstate it -- but reported as not evaluable, with the sites named
in the reason. Disclosure control (rules 1-3) is applied again to the pooled result.

Nothing is pooled from a file that fails a check (:mod:`cohortaudit.sites.checks`): each file
must agree with itself (totals = sums of their parts, sums inside their bins' ranges), release
no count below k (its own, or ``min_cell`` when larger), and hold no patients another file
holds (same cohort SHA-256 with overlapping ``--where``, or identical numbers); a site given a
public key must have signed its file (:mod:`cohortaudit.sites.signature`).

Sites are processed in order of their names, so the result does not depend on the order of
the files on the command line; the same files give a byte-identical ``audit.json`` (bar ``run``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cohortaudit.assemble import (
    CURVE_SETTINGS,
    CURVES_UP_TO_ORDER,
    assemble_result,
    bootstrap_undefined_caveat,
)
from cohortaudit.config import AuditConfig
from cohortaudit.disclosure import DisclosureDecision, DisclosureWording, apply_disclosure
from cohortaudit.errors import ConfigError, InputError
from cohortaudit.metrics.bootstrap import percentile_intervals
from cohortaudit.metrics.fairness import DISPARITY_METRICS
from cohortaudit.metrics.performance import (
    THRESHOLD_METRICS,
    Confusion,
    threshold_metric_values,
    threshold_proportions,
    wilson_interval,
)
from cohortaudit.metrics.subgroups import METRIC_KEYS, THRESHOLD_GRID, Partition
from cohortaudit.metrics.table import GroupRow, GroupTable, finite
from cohortaudit.registry import METRICS
from cohortaudit.results import (
    AuditResult,
    Caveat,
    CohortInfo,
    MetricValue,
    ModelInfo,
)
from cohortaudit.sites.bootstrap import BOOT_METRICS, Stratum, bootstrap_strata, remainder_bins
from cohortaudit.sites.checks import check_no_duplicate_cohorts, check_site_file
from cohortaudit.sites.export import read_site_file
from cohortaudit.sites.federated import FederatedFit, SiteRows, federated_logistic
from cohortaudit.sites.meta import dersimonian_laird
from cohortaudit.sites.signature import verify_site_signatures

__all__ = [
    "pool_site_files",
    "pool_sites",
    "binned_auroc",
    "SITE_ATTRIBUTE",
    "NOT_FROM_AGGREGATES",
    "META_METRICS",
]

#: Name of the attribute added for the site when the data carry no sensitive feature "site".
SITE_ATTRIBUTE = "site"
#: Metrics a coordinator cannot compute from the site files.
NOT_FROM_AGGREGATES = ("auprc", "ici", "e50", "e90", "emax", "hosmer_lemeshow_p")
#: Metrics whose CI comes from the pooled bootstrap (the single-site audit bootstraps them too).
BOOT_CI = ("brier", "balanced_accuracy", "f1", "ece", "scaled_brier", "discrimination_slope")
#: Metrics meta-analysed across sites, with the scale of the analysis.
META_METRICS = (
    ("auroc", "logit"),
    ("oe_ratio", "log"),
    ("calibration_slope", "identity"),
)
#: No bootstrap AUROC interval (nor of its disparities) for a group whose binned AUROC has a
#: bin error bound above this: more than half of its case-control pairs fall in overlapping
#: bins, so the replicates vary with the binning rather than the model (on the sample, narrow
#: groups such as age bands sit in one or two merged bins: bound ~0.5, replicates all 0.5).
AUROC_CI_MAX_BOUND = 0.25
_ECE_CUTS = np.arange(11) / 10
_HIST_CUTS = np.round(np.linspace(0.0, 1.0, 21), 2)

CI_METHODS = {
    "auroc": (
        "DeLong on binned placement values (pairs in overlapping histogram bins count one "
        "half), clipped to [0, 1]; the estimate's bin error bound is stated separately"
    ),
    # the same closed forms as a single-site audit: pooled counts give the same interval
    **{k: m.ci_method for k, m in METRICS.items() if m.ci_method == "Wilson score"},
    "oe_ratio": METRICS["oe_ratio"].ci_method,
    "citl": "Wald, from the federated Newton fit with offset logit(p) on binned logits",
    "calibration_slope": "Wald, from the federated Newton fit on binned logits",
    "recalibration_intercept": "Wald, from the federated Newton fit on binned logits",
    **{
        k: "pooled stratified bootstrap (site x group strata, merged score bins), percentile, "
        "replicates shifted to the pooled point estimate"
        for k in BOOT_CI
    },
    **{
        k: "none (needs every patient's prediction; not computed in a pooled audit)"
        for k in ("auprc", "ici", "e50", "e90", "emax")
    },
    "spiegelhalter_z": METRICS["spiegelhalter_z"].ci_method,
    "spiegelhalter_p": METRICS["spiegelhalter_p"].ci_method,
    "hosmer_lemeshow_p": "not computed (needs the pooled risk deciles)",
}


# --------------------------------------------------------------------------------------------
# binned data of one group at one site
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Binned:
    lo: np.ndarray
    hi: np.ndarray
    events: np.ndarray
    non_events: np.ndarray
    sp1: np.ndarray
    sp0: np.ndarray
    sl1: np.ndarray
    sl0: np.ndarray
    sq1: np.ndarray
    sq0: np.ndarray

    @classmethod
    def from_record(cls, edges: Sequence[float], h: dict[str, Any]) -> _Binned:
        e = np.asarray(edges, dtype=np.float64)
        return cls(
            lo=e[:-1],
            hi=e[1:],
            events=np.asarray(h["events"], dtype=np.int64),
            non_events=np.asarray(h["non_events"], dtype=np.int64),
            sp1=np.asarray(h["sum_p_events"], dtype=np.float64),
            sp0=np.asarray(h["sum_p_non_events"], dtype=np.float64),
            sl1=np.asarray(h["sum_logit_events"], dtype=np.float64),
            sl0=np.asarray(h["sum_logit_non_events"], dtype=np.float64),
            sq1=np.asarray(h["sum_logit2_events"], dtype=np.float64),
            sq0=np.asarray(h["sum_logit2_non_events"], dtype=np.float64),
        )

    def between(self, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(events, non-events, sum p) in [cuts[i], cuts[i+1]); None if a bin straddles a cut."""
        occupied = (self.events + self.non_events) > 0
        inner = cuts[1:-1]
        straddle = (self.lo[:, None] < inner[None, :]) & (self.hi[:, None] > inner[None, :])
        if np.any(straddle[occupied]):
            return None
        idx = np.clip(np.searchsorted(cuts, self.lo, side="right") - 1, 0, len(cuts) - 2)
        m = len(cuts) - 1
        return (
            np.bincount(idx, weights=self.events, minlength=m).astype(np.int64),
            np.bincount(idx, weights=self.non_events, minlength=m).astype(np.int64),
            np.bincount(idx, weights=self.sp1 + self.sp0, minlength=m),
        )

    def at(self, t: float) -> tuple[int, int] | None:
        """(tp, fp) at threshold t, or None when a non-empty bin straddles t."""
        occupied = (self.events + self.non_events) > 0
        if np.any(occupied & (self.lo < t) & (self.hi > t)):
            return None
        above = self.lo >= t
        return int(self.events[above].sum()), int(self.non_events[above].sum())

    def rows(self, *, slope: bool, spread: bool = True) -> SiteRows:
        """Two weighted rows per non-empty (bin, outcome), at the bin's mean logit +- its SD.

        Each half carries half the count, so the rows reproduce the bin's count, sum and sum
        of squares of logits exactly (a two-point quadrature of the within-bin distribution):
        the binned fit's error is then of the order of the within-bin fourth moment.
        """
        lp, y, w = [], [], []
        for count, s1, s2, label in (
            (self.events, self.sl1, self.sq1, 1.0),
            (self.non_events, self.sl0, self.sq0, 0.0),
        ):
            use = count > 0
            n = count[use].astype(np.float64)
            mean = s1[use] / n
            sd = np.sqrt(np.maximum(s2[use] / n - mean * mean, 0.0)) if spread else 0 * mean
            lp.extend([mean - sd, mean + sd])
            y.extend([np.full(n.size, label)] * 2)
            w.extend([n / 2.0, n / 2.0])
        x = np.concatenate(lp)
        ones = np.ones(x.size)
        yy, ww = np.concatenate(y), np.concatenate(w)
        if slope:
            return SiteRows(np.column_stack([ones, x]), yy, ww, np.zeros(x.size))
        return SiteRows(ones[:, None], yy, ww, x)


def binned_auroc(parts: Sequence[_Binned]) -> tuple[float, float, float]:
    """AUROC, its DeLong standard error and the bin error bound, from binned outcomes.

    A case in bin [a, b) certainly outranks a control in bin [c, d) when d <= a, certainly not
    when b <= c; otherwise (overlapping bins, same bin included) the pair counts one half and
    its contribution may be off by at most one half. With the same bins on both sides this is
    REFERENCE.md's AUC_bin and bound exactly.
    """
    c_lo = np.concatenate([p.lo[p.events > 0] for p in parts])
    c_hi = np.concatenate([p.hi[p.events > 0] for p in parts])
    c_w = np.concatenate([p.events[p.events > 0] for p in parts]).astype(np.float64)
    k_lo = np.concatenate([p.lo[p.non_events > 0] for p in parts])
    k_hi = np.concatenate([p.hi[p.non_events > 0] for p in parts])
    k_w = np.concatenate([p.non_events[p.non_events > 0] for p in parts]).astype(np.float64)
    n1, n0 = float(c_w.sum()), float(k_w.sum())
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan

    def certain(lo_w_key, w, query, side):
        order = np.argsort(lo_w_key, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(w[order])])
        return cum[np.searchsorted(lo_w_key[order], query, side=side)]

    below = certain(k_hi, k_w, c_lo, "right")  # controls with d <= a
    above = n0 - certain(k_lo, k_w, c_hi, "left")  # controls with c >= b
    unc = n0 - below - above
    v10 = (below + 0.5 * unc) / n0
    auc = float(np.sum(c_w * v10) / n1)
    bound = float(0.5 * np.sum(c_w * unc) / (n1 * n0))
    c_below = certain(c_hi, c_w, k_lo, "right")  # cases with b <= c
    c_above = n1 - certain(c_lo, c_w, k_hi, "left")  # cases with a >= d
    v01 = (c_above + 0.5 * (n1 - c_below - c_above)) / n1
    if n1 < 2 or n0 < 2:
        return auc, math.nan, bound
    s10 = float(np.sum(c_w * (v10 - auc) ** 2)) / (n1 - 1)
    s01 = float(np.sum(k_w * (v01 - auc) ** 2)) / (n0 - 1)
    return auc, math.sqrt(s10 / n1 + s01 / n0), bound


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------


def _check_compatible(sites: list[dict[str, Any]], names: list[str]) -> None:
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


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------


#: B and the seed when the caller gives none: the single-site audit's defaults.
_DEFAULTS = AuditConfig(label="pooled")


def pool_site_files(
    paths: Sequence[str | Path],
    *,
    n_boot: int = _DEFAULTS.n_boot,
    seed: int = _DEFAULTS.seed,
    min_cell: int | None = None,
    public_keys: Mapping[str, Any] | None = None,
) -> AuditResult:
    """Read, verify and pool site files (see the module docstring).

    ``public_keys`` maps a site name to its Ed25519 public key: that site's file must come
    with a valid detached signature (``FILE.sig``, :mod:`cohortaudit.sites.signature`).
    ``min_cell`` is the coordinator's k (see :func:`pool_sites`).
    """
    if not paths:
        raise InputError("Give at least one site file to pool: cohortaudit pool a.json b.json.")
    data = [read_site_file(p) for p in paths]
    verify_site_signatures(data, [Path(p) for p in paths], dict(public_keys or {}))
    return pool_sites(
        data,
        file_names=[Path(p).name for p in paths],
        n_boot=n_boot,
        seed=seed,
        min_cell=min_cell,
    )


def pool_sites(
    sites: Sequence[dict[str, Any]],
    *,
    file_names: Sequence[str] | None = None,
    n_boot: int = _DEFAULTS.n_boot,
    seed: int = _DEFAULTS.seed,
    min_cell: int | None = None,
) -> AuditResult:
    """Pool site-file contents (already read and hash-checked) into one :class:`AuditResult`.

    ``n_boot`` bootstrap replicates with the generator seeded by ``seed`` (0: no bootstrap).
    Before any pooling maths every file is checked on its own and against the others
    (:mod:`cohortaudit.sites.checks`: structure, internal consistency, disclosure, duplicate
    cohorts); the first problem is raised as an :class:`InputError` naming the file.
    Disclosure control uses k = ``min_cell`` when it is larger than the files' own k.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    names = list(file_names or [f"site file {i + 1}" for i in range(len(sites))])
    if not sites:
        raise InputError("Give at least one site file to pool.")
    if min_cell is not None and (
        isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 0
    ):
        raise ConfigError(f"--min-cell must be an integer >= 0. Got {min_cell!r} instead.")
    for d, f in zip(sites, names, strict=True):
        check_site_file(d, file_name=f, min_cell=min_cell)
    _check_compatible(list(sites), names)
    check_no_duplicate_cohorts(sites, names)
    order = sorted(range(len(sites)), key=lambda i: sites[i]["site"])
    sites = [sites[i] for i in order]
    names = [names[i] for i in order]
    settings0 = sites[0]["settings"]
    k = max(int(settings0["min_cell"]), min_cell or 0)
    confidence = float(settings0["confidence"])
    z = _z(confidence)
    threshold = float(settings0["threshold"])
    features = tuple(settings0["sensitive_features"])
    add_site = SITE_ATTRIBUTE not in features
    all_features = (*features, SITE_ATTRIBUTE) if add_site else features
    max_order = int(settings0["max_intersection_order"])

    # ---- per site: group key -> record, binned data
    per_site: list[dict[tuple, tuple[dict, _Binned | None]]] = []
    attr_order: list[tuple[str, ...]] = []
    for d in sites:
        edges = {tuple(p["attributes"]): p["edges"] for p in d["partitions"]}
        table: dict[tuple, tuple[dict, _Binned | None]] = {}
        for rec in d["groups"]:
            attrs = tuple(rec["attributes"])
            key = (attrs, tuple(rec["attributes"][a] for a in attrs))
            binned = (
                None if rec["suppressed"] else _Binned.from_record(edges[attrs], rec["histogram"])
            )
            table[key] = (rec, binned)
            if attrs not in attr_order:
                attr_order.append(attrs)
        if add_site:  # the site as a group of its own, alone and crossed with each attribute
            for (attrs, values), item in list(table.items()):
                if len(attrs) == 0 or (len(attrs) == 1 and max_order >= 2):
                    table[((*attrs, SITE_ATTRIBUTE), (*values, d["site"]))] = item
        per_site.append(table)
    if add_site:
        attr_order.append((SITE_ATTRIBUTE,))
        if max_order >= 2:
            attr_order.extend((a, SITE_ATTRIBUTE) for a in features)

    value_rank = _value_ranks(sites, features)
    value_rank[SITE_ATTRIBUTE] = value_rank.get(
        SITE_ATTRIBUTE, {d["site"]: i for i, d in enumerate(sites)}
    )
    partitions: list[Partition] = []
    for attrs in attr_order:
        keys = sorted(
            {values for table in per_site for (a, values) in table if a == attrs},
            key=lambda vals, attrs=attrs: tuple(
                value_rank.get(a, {}).get(v, 10**6) for a, v in zip(attrs, vals, strict=True)
            ),
        )
        partitions.append(Partition(attrs, tuple(keys), np.empty((0, 0)), np.empty(0)))

    # ---- pooled groups
    pooled: list[list[_Pooled]] = []
    for part in partitions:
        row = []
        for values in part.keys:
            key = (part.attributes, values)
            contrib = [
                (d["site"], t[key]) for d, t in zip(sites, per_site, strict=True) if key in t
            ]
            row.append(_pool_group(part.attributes_of(part.keys.index(values)), contrib, k))
        pooled.append(row)

    # ---- the pooled cohort's group table, disclosure control on it (rules 1-3), bootstrap
    table = GroupTable(
        partitions=tuple(partitions),
        rows=tuple(
            tuple(
                _pooled_row(p, g, est, threshold=threshold, z=z, k=k) for g, est in enumerate(row)
            )
            for p, row in enumerate(pooled)
        ),
        threshold=threshold,
        grid_exact=False,
        n_bins=settings0["score_grid"]["bins"],
        ci_methods=CI_METHODS,
        bootstrap_ci=BOOT_CI,
    )
    decision = apply_disclosure(
        table,
        k,
        curves_up_to_order=CURVES_UP_TO_ORDER,
        wording=POOLED_WORDING,
        grid_closure="siblings",
    )
    boot = _Boot(n_boot=0, seed=None)
    if n_boot > 0:
        boot = _bootstrap(
            table,
            decision,
            per_site,
            [d["site"] for d in sites],
            n_boot=n_boot,
            seed=seed,
            threshold=threshold,
            confidence=confidence,
        )
        table = _with_bootstrap(table, boot)

    site_block, site_caveats = _sites_block(sites, threshold=threshold, z=z, k=k, conf=confidence)
    whole = pooled[0][0]
    auc_bound = None
    if whole.parts and not whole.withheld_at:
        auc_bound = finite(binned_auroc(whole.parts)[2])
    released = not decision.hidden[0][0]
    row0 = table.rows[0][0]
    site_block["pooled"] = {
        "n": row0.n if released else None,
        "events": row0.events if released else None,
        "auroc": (
            MetricValue(row0.values["auroc"], *row0.ci.get("auroc", (None, None))).to_dict()
            if released
            else None
        ),
        "auroc_bin_error_bound": auc_bound,
    }
    m = sites[0]["model"]
    model = ModelInfo(
        kind=m["kind"],
        sha256=m["sha256"],
        file=m.get("file"),
        name=m.get("name"),
        version=m.get("version"),
        inputs=tuple(m.get("inputs", ())),
        card_sha256=m.get("card_sha256"),
        card_file=m.get("card_file"),
        metadata={},
        test_vectors=None,
        card=dict(m.get("card") or {}),
    )
    cohort = CohortInfo(
        sha256=None,
        file=f"pooled from {len(sites)} site files: " + ", ".join(d["site"] for d in sites),
        n=None,
        events=None,
        n_input_rows=None,
        n_excluded=None,
        label=settings0["label"],
        sensitive_features=all_features,
    )
    config = {
        "label": settings0["label"],
        "sensitive_features": list(all_features),
        "bins": dict(settings0["bins"]),
        "reference": {},
        "threshold": threshold,
        "score_column": None,
        "n_boot": boot.n_boot,
        "seed": boot.seed,
        "min_cell": k,
        "confidence": confidence,
        "boot_score_bins": None,
        "max_intersection_order": max_order,
        "pooled_sites": [d["site"] for d in sites],
    }
    return assemble_result(
        table,
        decision,
        k=k,
        z=z,
        confidence=confidence,
        threshold=threshold,
        threshold_source=settings0.get("threshold_source"),
        max_order=max_order,
        model=model,
        cohort=cohort,
        config=config,
        started=started,
        started_at=started_at,
        run={"site_files": list(names)},
        bins=settings0["bins"],
        caveats=_caveats(sites, table, decision, k, boot) + site_caveats,
        checks=("inverted_ranking",),
        methods=_pooled_methods(settings0, boot, auc_bound),
        disclosure_rules=POOLED_DISCLOSURE_RULES,
        settings_extension={
            "pooling": {
                "sites": len(sites),
                "score_grid": settings0["score_grid"]["description"],
                "site_attribute": SITE_ATTRIBUTE,
            }
        },
        claimed_metrics=model.card.get("claimed_metrics"),
        sites=site_block,
    )


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _value_ranks(sites: Sequence[dict], features: Sequence[str]) -> dict[str, dict[str, int]]:
    """Order of each attribute's values: the bins' order when binned, else alphabetical."""
    out: dict[str, dict[str, int]] = {}
    binned = set(sites[0]["settings"].get("bins", {}))
    for col in features:
        if col in binned:
            values = list(sites[0]["value_order"].get(col, []))
            for d in sites[1:]:
                values += [v for v in d["value_order"].get(col, []) if v not in values]
        else:
            values = sorted({v for d in sites for v in d["value_order"].get(col, [])})
        out[col] = {v: i for i, v in enumerate(values)}
    return out


# --------------------------------------------------------------------------------------------
# one pooled group
# --------------------------------------------------------------------------------------------


@dataclass
class _Pooled:
    attributes: dict[str, str]
    sites: list[str]
    withheld_at: list[str]
    parts: list[_Binned]
    n: int = 0
    events: int = 0
    sums: dict[str, float] | None = None

    def confusion_at(self, t: float) -> Confusion | None:
        if self.withheld_at or not self.parts:
            return None
        tp = fp = 0
        for b in self.parts:
            got = b.at(t)
            if got is None:
                return None
            tp, fp = tp + got[0], fp + got[1]
        return Confusion(tp=tp, fp=fp, tn=self.n - self.events - fp, fn=self.events - tp)

    def between(self, cuts: np.ndarray):
        total = None
        for b in self.parts:
            got = b.between(cuts)
            if got is None:
                return None
            total = got if total is None else tuple(x + y for x, y in zip(total, got, strict=True))
        return total


def _pool_group(attributes: dict[str, str], contrib, k: int) -> _Pooled:
    withheld = [site for site, (rec, _) in contrib if rec["suppressed"]]
    g = _Pooled(
        attributes=dict(attributes),
        sites=[s for s, _ in contrib],
        withheld_at=withheld,
        parts=[b for _, (_, b) in contrib if b is not None],
    )
    if withheld:
        return g
    sums: dict[str, float] = {}
    for _, (rec, _) in contrib:
        g.n += int(rec["n"])
        g.events += int(rec["events"])
        for key, v in rec["sums"].items():
            sums[key] = sums.get(key, 0.0) + float(v)
    g.sums = sums
    return g


def _fit(parts: Sequence[_Binned], *, slope: bool, start, spread: bool = True) -> FederatedFit:
    return federated_logistic([b.rows(slope=slope, spread=spread) for b in parts], start=start)


#: Why a pooled subgroup has no CITL / slope (see the module docstring).
SUBGROUP_FIT_NOTE = (
    "CITL, calibration slope and recalibration intercept are pooled for the whole cohort and "
    "each site only: a subgroup's histogram bins are shared with its smallest sibling, and on "
    "such coarse bins the binned fit can miss the patient-level fit by more than its standard "
    "error"
)


def _metrics(
    est: _Pooled, confusion: Confusion | None, *, z: float, fit_calibration: bool = True
) -> tuple[dict, dict]:
    """Metric values with CIs, and calibration facts (fit, bound, problems)."""
    n, o = est.n, est.events
    s = est.sums or {}
    out: dict[str, MetricValue] = {}
    info: dict[str, Any] = {"problems": []}
    auc, se, bound = binned_auroc(est.parts)
    info["auroc_bin_error_bound"] = bound
    if math.isfinite(bound) and bound > 0.02:
        info["problems"].append(
            f"AUROC from coarse score bins: the estimate may be off by up to {bound:.3f}"
        )
    out["auroc"] = MetricValue(
        auc,
        max(0.0, auc - z * se) if math.isfinite(se) else None,
        min(1.0, auc + z * se) if math.isfinite(se) else None,
    )
    out["auprc"] = MetricValue(None)
    if confusion is not None:
        values = threshold_metric_values(confusion)
        cis = {
            key: wilson_interval(x, d, z)
            for key, (x, d) in threshold_proportions(confusion).items()
        }
        for key in THRESHOLD_METRICS:
            lo, hi = cis.get(key, (None, None))
            out[key] = MetricValue(values[key], lo, hi)
    else:
        for key in THRESHOLD_METRICS:
            out[key] = MetricValue(None)
    out["prevalence"] = MetricValue(o / n, *wilson_interval(o, n, z))
    out["brier"] = MetricValue(s["sum_sq_error_raw"] / n)
    e = s["sum_p_events"] + s["sum_p_non_events"]
    oe = o / e
    half = z * math.sqrt(1.0 / o) if o > 0 else math.nan
    out["oe_ratio"] = MetricValue(oe, oe * math.exp(-half), oe * math.exp(half))
    if fit_calibration:
        citl = _fit(est.parts, slope=False, start=[math.log(oe) if oe > 0 else 0.0])
        slope = _fit(est.parts, slope=True, start=[0.0, 1.0])
        info["federated_rounds"] = {"citl": citl.rounds, "slope": slope.rounds}
    else:
        citl = slope = None
        info["federated_rounds"] = None
        info["problems"].append(SUBGROUP_FIT_NOTE)
    for fit, keys in ((citl, ("citl",)), (slope, ("recalibration_intercept", "calibration_slope"))):
        if fit is not None and not fit.converged:
            info["problems"].append(f"federated calibration fit did not converge ({fit.message})")
        for j, key in enumerate(keys):
            if fit is not None and fit.converged:
                sej = math.sqrt(fit.cov[j, j])
                out[key] = MetricValue(fit.coef[j], fit.coef[j] - z * sej, fit.coef[j] + z * sej)
            else:
                out[key] = MetricValue(None)
    for key in ("ici", "e50", "e90", "emax"):
        out[key] = MetricValue(None)
    table = est.between(_ECE_CUTS)
    info["ece_table"] = table
    if table is not None:
        ev, ne, sp = table
        out["ece"] = MetricValue(float(np.sum(np.abs(ev - sp)) / n))
    else:
        out["ece"] = MetricValue(None)
        info["problems"].append(
            "ECE not computed: a site merged a histogram bin across an edge of the 10 ECE bins"
        )
    var = s["spiegelhalter_var"]
    if var > 0:
        from scipy import stats

        zs = s["spiegelhalter_num"] / math.sqrt(var)
        out["spiegelhalter_z"] = MetricValue(zs)
        out["spiegelhalter_p"] = MetricValue(float(2.0 * stats.norm.sf(abs(zs))))
    else:
        out["spiegelhalter_z"] = out["spiegelhalter_p"] = MetricValue(None)
    out["hosmer_lemeshow_p"] = MetricValue(None)
    ybar = o / n
    out["scaled_brier"] = MetricValue(1.0 - s["sum_sq_error"] / n / (ybar * (1.0 - ybar)))
    out["discrimination_slope"] = MetricValue(
        s["sum_p_events"] / o - s["sum_p_non_events"] / (n - o)
    )
    return {key: out[key] for key in METRIC_KEYS}, info


# --------------------------------------------------------------------------------------------
# bootstrap, disparities and fairness summaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Boot:
    """What the pooled bootstrap produced, in the group table's layout."""

    n_boot: int
    seed: int | None
    #: [partition] metric -> (B, G) shifted replicates (NaN for groups not released)
    replicates: list[dict[str, np.ndarray]] | None = None
    #: [partition] metric -> (B,) the whole cohort from that partition's draws
    overall_replicates: list[dict[str, np.ndarray]] | None = None
    strata: int = 0
    #: partitions (attribute tuples) whose whole-cohort replicates could not be formed
    no_overall: tuple[tuple[str, ...], ...] = ()
    #: partitions that needed a "rest of the site" stratum (a group withheld at a site)
    rest_used: tuple[tuple[str, ...], ...] = ()
    #: (group attributes, metric, undefined replicates) for released values
    undefined: tuple[tuple[dict[str, str], str, int], ...] = ()
    #: groups (and "whole cohort in partition ...") without an AUROC interval: bins too coarse
    coarse_auroc: int = 0
    #: partitions whose whole-cohort replicates (on the partition's bins) are too coarse for
    #: AUROC, so AUROC comparisons with the whole cohort there have no interval
    coarse_overall: tuple[tuple[str, ...], ...] = ()
    #: (partition, group) -> metric -> percentile interval, for the metrics of ``BOOT_CI``
    intervals: dict[tuple[int, int], dict[str, tuple[float, float]]] = field(default_factory=dict)


def _binned_from_arrays(edges: np.ndarray, a: dict[str, np.ndarray]) -> _Binned:
    return _Binned(
        lo=edges[:-1],
        hi=edges[1:],
        events=a["events"],
        non_events=a["non_events"],
        sp1=a["sp1"],
        sp0=a["sp0"],
        sl1=a["sl1"],
        sl0=a["sl0"],
        sq1=a["sq1"],
        sq0=a["sq0"],
    )


def _bootstrap(
    table: GroupTable,
    decision: DisclosureDecision,
    per_site,
    site_names: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    threshold: float,
    confidence: float,
) -> _Boot:
    """Per partition: resample site x group strata, shift to what the audit reports, and
    return the replicates and the intervals of ``BOOT_CI``.

    Partitions are processed in order from one generator, so the same files and seed give
    the same replicates.
    """
    partitions, hidden = table.partitions, decision.hidden
    rng = np.random.default_rng(seed)
    intervals: dict[tuple[int, int], dict[str, tuple[float, float]]] = {}
    replicates: list[dict[str, np.ndarray]] = []
    overall_reps: list[dict[str, np.ndarray]] = []
    no_overall, rest_used, undefined = [], [], []
    coarse_auroc = 0
    coarse_overall: list[tuple[str, ...]] = []
    n_strata = 0
    overall_released = not hidden[0][0]
    for p, part in enumerate(partitions):
        index = {values: g for g, values in enumerate(part.keys)}
        keep = [g for g in range(len(part.keys)) if not hidden[p][g]]
        pos = {g: j for j, g in enumerate(keep)}
        with_overall = p > 0 and overall_released
        # targets: the released groups, then the whole cohort from this partition's draws
        # ("joint"), then -- only if some site's bins of this partition straddle the
        # threshold -- a whole cohort for the threshold metrics that takes such a site's
        # whole-cohort histogram instead (drawn on its own: no correlation with the groups
        # there, whose own threshold metrics are then mostly withheld anyway)
        joint, mixed = len(keep), len(keep) + 1
        per: list[tuple[dict, list[tuple[int, Any]], bool, Any]] = []
        for site_table in per_site:
            covered, withheld = [], False
            for (attrs, values), (_, binned) in site_table.items():
                if attrs != part.attributes:
                    continue
                if binned is None:
                    withheld = True
                else:
                    covered.append((index[values], binned))
            rest = None
            if p > 0 and withheld and with_overall:
                whole = site_table[((), ())][1]
                ok, rest = (
                    remainder_bins(whole, [b for _, b in covered], _binned_from_arrays)
                    if whole is not None
                    else (False, None)
                )
                if not ok:
                    with_overall = False
                elif rest is not None and part.attributes not in rest_used:
                    rest_used.append(part.attributes)
            bins = [b for _, b in covered] + ([rest] if rest is not None else [])
            resolved = all(b.at(threshold) is not None for b in bins)
            per.append((site_table, covered, resolved, rest))
        use_mixed = with_overall and not all(r for _, _, r, _ in per)
        if p > 0 and overall_released and not with_overall:
            no_overall.append(part.attributes)
        strata: list[Stratum] = []
        for name, (site_table, covered, resolved, rest) in zip(site_names, per, strict=True):
            wide = (joint,) * with_overall + (mixed,) * (use_mixed and resolved)
            for g, binned in covered:
                strata.append(Stratum(name, ((pos[g],) if g in pos else ()) + wide, binned))
            if rest is not None and wide:
                strata.append(Stratum(name, wide, rest))
            if use_mixed and not resolved:
                strata.append(Stratum(name, (mixed,), site_table[((), ())][1]))
        full = {m: np.full((n_boot, len(part.keys)), np.nan) for m in BOOT_METRICS}
        skip_auroc: set[int] = set()
        whole_reps = {m: np.full(n_boot, np.nan) for m in BOOT_METRICS}
        if keep or with_overall:
            n_strata += len(strata)
            base, reps = bootstrap_strata(
                strata,
                len(keep) + with_overall + use_mixed,
                threshold=threshold,
                n_boot=n_boot,
                rng=rng,
            )
            # the engine's shift: replicate - binned point estimate + reported estimate, so
            # the interval is centred on what the pooled audit reports
            targets = [(p, g) for g in keep] + [(0, 0)] * (with_overall + use_mixed)
            for m in BOOT_METRICS:
                reported = np.array(
                    [_reported(table, decision, t, m) for t in targets], dtype=np.float64
                )
                shifted = reps[m] + (reported - base[m])
                if m == "auroc":
                    coarse = base["auroc_bin_error_bound"] > AUROC_CI_MAX_BOUND
                    shifted[:, coarse] = np.nan
                    coarse_auroc += int(coarse[: len(keep)].sum())
                    skip_auroc = {g for j, g in enumerate(keep) if coarse[j]}
                    if with_overall and coarse[joint]:
                        coarse_overall.append(part.attributes)
                full[m][:, keep] = shifted[:, : len(keep)]
                if with_overall:
                    whole_reps[m] = shifted[
                        :, mixed if use_mixed and m in THRESHOLD_METRICS else joint
                    ]
        if p == 0:
            whole_reps = {m: full[m][:, 0] for m in BOOT_METRICS}
        replicates.append(full)
        overall_reps.append(whole_reps)
        for m in BOOT_METRICS:
            lo, hi, bad = percentile_intervals(full[m][:, keep], confidence)
            for j, g in enumerate(keep):
                if not math.isfinite(_reported(table, decision, (p, g), m)):
                    continue
                if bad[j] and not (m == "auroc" and g in skip_auroc):
                    undefined.append((dict(table.rows[p][g].attributes), m, int(bad[j])))
                if m in BOOT_CI:
                    intervals.setdefault((p, g), {})[m] = (float(lo[j]), float(hi[j]))
    return _Boot(
        n_boot=n_boot,
        seed=seed,
        replicates=replicates,
        overall_replicates=overall_reps,
        strata=n_strata,
        no_overall=tuple(no_overall),
        rest_used=tuple(rest_used),
        undefined=tuple(undefined),
        coarse_auroc=coarse_auroc,
        coarse_overall=tuple(coarse_overall),
        intervals=intervals,
    )


def _reported(table: GroupTable, decision: DisclosureDecision, cell, metric: str) -> float:
    """The value the pooled audit reports for a group's metric (NaN where it reports none:
    withheld groups, withheld threshold metrics, metrics not computable from aggregates)."""
    p, g = cell
    if decision.hidden[p][g] or (metric in THRESHOLD_METRICS and decision.confusion_hidden[p][g]):
        return math.nan
    return float(table.rows[p][g].values.get(metric, math.nan))


def _with_bootstrap(table: GroupTable, boot: _Boot) -> GroupTable:
    """A new table with the pooled bootstrap's intervals and replicates (metrics compared
    between groups without replicates get NaN ones, so their disparities have no CI)."""
    rows = tuple(
        tuple(
            replace(r, ci={**r.ci, **boot.intervals[(p, g)]}) if (p, g) in boot.intervals else r
            for g, r in enumerate(row)
        )
        for p, row in enumerate(table.rows)
    )
    replicates, overall = [], []
    for p, part in enumerate(table.partitions):
        nan = np.full((boot.n_boot, len(part.keys)), np.nan)
        replicates.append({m: nan for m in DISPARITY_METRICS} | boot.replicates[p])
        overall.append({m: nan[:, 0] for m in DISPARITY_METRICS} | boot.overall_replicates[p])
    return replace(
        table,
        rows=rows,
        replicates=tuple(replicates),
        overall_replicates=tuple(overall),
        n_boot=boot.n_boot,
    )


# --------------------------------------------------------------------------------------------
# per-site metrics and the meta-analysis
# --------------------------------------------------------------------------------------------


def _site_metrics(d: dict[str, Any], *, threshold: float, z: float, k: int) -> dict[str, Any]:
    rec = next(r for r in d["groups"] if not r["attributes"])
    entry: dict[str, Any] = {
        "name": d["site"],
        "content_sha256": d["content_sha256"],
        "tool_version": d["tool"]["version"],
        "where": dict((d.get("cohort") or {}).get("where") or {}),
        "suppressed": bool(rec["suppressed"]),
        "n": None,
        "events": None,
        "auroc_bin_error_bound": None,
        "metrics": {},
        "variances": {},
    }
    if rec["suppressed"]:
        return entry
    edges = next(p["edges"] for p in d["partitions"] if not p["attributes"])
    est = _Pooled({}, [d["site"]], [], [_Binned.from_record(edges, rec["histogram"])])
    est.n, est.events, est.sums = int(rec["n"]), int(rec["events"]), dict(rec["sums"])
    conf = est.confusion_at(threshold)
    if conf is not None and min(conf.tp, conf.fp, conf.tn, conf.fn) < k:
        conf = None
    metrics, info = _metrics(est, conf, z=z)
    auc, se, _ = binned_auroc(est.parts)
    slope = _fit(est.parts, slope=True, start=[0.0, 1.0])
    entry.update(
        n=est.n,
        events=est.events,
        auroc_bin_error_bound=finite(info["auroc_bin_error_bound"]),
        metrics={
            key: metrics[key].to_dict()
            for key in (
                "auroc",
                "oe_ratio",
                "citl",
                "calibration_slope",
                "sensitivity",
                "specificity",
            )
        },
        variances={
            "auroc_logit": finite((se / (auc * (1 - auc))) ** 2) if 0 < auc < 1 else None,
            "oe_ratio_log": finite(1.0 / est.events) if est.events else None,
            "calibration_slope": finite(slope.cov[1, 1]) if slope.converged else None,
        },
    )
    return entry


_TRANSFORMS = {
    "logit": (lambda x: math.log(x / (1 - x)), lambda x: 1 / (1 + math.exp(-x)), "auroc_logit"),
    "log": (math.log, math.exp, "oe_ratio_log"),
    "identity": (lambda x: x, lambda x: x, "calibration_slope"),
}


def _sites_block(sites, *, threshold: float, z: float, k: int, conf: float):
    entries = [_site_metrics(d, threshold=threshold, z=z, k=k) for d in sites]
    meta = []
    caveats: list[Caveat] = []
    for metric, scale in META_METRICS:
        fwd, back, var_key = _TRANSFORMS[scale]
        ys, vs, used = [], [], []
        for e in entries:
            v = (e["metrics"].get(metric) or {}).get("value")
            var = e["variances"].get(var_key)
            if v is None or var is None:
                continue
            try:
                ys.append(fwd(v))
            except (ValueError, ZeroDivisionError):
                continue
            vs.append(var)
            used.append(e["name"])
        res = dersimonian_laird(ys, vs, confidence=conf)
        if res is None:
            meta.append(
                {
                    "metric": metric,
                    "scale": scale,
                    "method": "DerSimonian-Laird random effects",
                    "n_sites": len(used),
                    "sites": used,
                    "estimate": MetricValue(None).to_dict(),
                    "estimate_analysis_scale": MetricValue(None).to_dict(),
                    "fixed_effect": MetricValue(None).to_dict(),
                    "tau2": None,
                    "i2": None,
                    "q": None,
                    "q_df": None,
                    "q_p": None,
                    "prediction_interval": {"low": None, "high": None},
                }
            )
            continue
        meta.append(
            {
                "metric": metric,
                "scale": scale,
                "method": "DerSimonian-Laird random effects",
                "n_sites": res.n_sites,
                "sites": used,
                "estimate": MetricValue(
                    back(res.estimate), back(res.ci_low), back(res.ci_high)
                ).to_dict(),
                "estimate_analysis_scale": MetricValue(
                    res.estimate, res.ci_low, res.ci_high
                ).to_dict(),
                "fixed_effect": MetricValue(
                    back(res.fixed_estimate),
                    back(res.fixed_estimate - z * res.fixed_se),
                    back(res.fixed_estimate + z * res.fixed_se),
                ).to_dict(),
                "tau2": finite(res.tau2),
                "i2": finite(res.i2),
                "q": finite(res.q),
                "q_df": res.df,
                "q_p": finite(res.q_p),
                "prediction_interval": {
                    "low": finite(back(res.pi_low)) if res.pi_low is not None else None,
                    "high": finite(back(res.pi_high)) if res.pi_high is not None else None,
                },
            }
        )
    if len(entries) < 3:
        caveats.append(
            Caveat(
                "few_sites",
                "info",
                f"Only {len(entries)} site(s): the random-effects prediction interval needs at "
                "least 3 sites"
                + (" and the meta-analysis at least 2" if len(entries) < 2 else "")
                + "; between-site heterogeneity is poorly estimated with few sites.",
            )
        )
    versions = sorted({e["tool_version"] for e in entries})
    if len(versions) > 1:
        caveats.append(
            Caveat(
                "tool_versions_differ",
                "warning",
                "The sites exported with different cohortaudit versions ("
                + ", ".join(versions)
                + "); the settings match, but re-exporting with one version is safer.",
            )
        )
    for e in entries:
        e["metrics"] = {key: _clean_mv(v) for key, v in e["metrics"].items()}
    block = {
        "n_sites": len(entries),
        "attribute": SITE_ATTRIBUTE,
        "sites": entries,
        "meta_analysis": meta,
        "pooled": {},
        "methods": {
            "site_file": "cohortaudit site-export: aggregate sufficient statistics only "
            "(sites.export)",
            "exact": "n, events, prevalence, O/E, Brier, scaled Brier, Spiegelhalter, "
            "discrimination slope, confusion counts at grid thresholds, threshold metrics, "
            "decision curve, ECE (sums of the sites' sums)",
            "auroc": "from per-outcome score histograms; pairs in overlapping bins count one "
            "half; error <= 1/2 x (pairs in overlapping bins) / (n1 n0)",
            "calibration_fit": "federated Newton-Raphson: each round the coordinator sends "
            "the coefficients, each site returns its score vector, information matrix and "
            "log-likelihood, the coordinator sums them and steps; simulated in-process on "
            "the sites' binned logits (one row per histogram bin and outcome at the bin's "
            "mean logit)",
            "meta_analysis": "DerSimonian-Laird random effects on logit AUROC, ln O/E and "
            "the calibration slope; tau^2 by the method of moments; 95% CI mu +- z se; "
            "I^2 = (Q - df)/Q; prediction interval mu +- t(k-2) sqrt(tau^2 + se^2) "
            "(Higgins 2009), k >= 3",
            "per_site_variances": "logit AUROC: (se / (AUC (1 - AUC)))^2 with DeLong se on "
            "binned scores; ln O/E: 1/O; slope: Wald variance of the binned fit",
            "not_computable": "AUPRC, ICI, E50, E90, Emax, Hosmer-Lemeshow",
            "bootstrap": "per partition, site x group strata resampled over their histogram "
            "entries (sites.bootstrap); percentile CIs of bootstrap metrics and disparities",
        },
    }
    return block, caveats


def _clean_mv(d: dict[str, Any]) -> dict[str, Any]:
    return MetricValue.from_dict(d).to_dict()


def _caveats(
    sites, table: GroupTable, decision: DisclosureDecision, k: int, boot: _Boot
) -> list[Caveat]:
    out = [
        Caveat(
            "pooled_from_sites",
            "info",
            f"This audit pools {len(sites)} site files ("
            + ", ".join(d["site"] for d in sites)
            + "): only aggregates left the sites. Counts, O/E, Brier, Spiegelhalter and "
            "threshold metrics are exact; AUROC comes from binned scores (its bin error bound "
            "is stated); CITL and the calibration slope come from a federated fit on binned "
            "logits.",
        ),
        Caveat(
            "not_from_aggregates",
            "info",
            "AUPRC, ICI, E50, E90, Emax and the Hosmer-Lemeshow test need every patient's "
            "prediction (or the pooled risk deciles), which do not leave the sites; they are "
            "not reported in a pooled audit.",
        ),
        _bootstrap_caveat(boot),
    ]
    out.extend(
        bootstrap_undefined_caveat(attrs, metric, count, boot.n_boot)
        for attrs, metric, count in boot.undefined
    )
    site_withheld = [c for c in table.cells() if table.rows[c[0]][c[1]].withheld_by_source]
    if site_withheld:
        out.append(
            Caveat(
                "withheld_at_site",
                "warning",
                f"{len(site_withheld)} subgroups were withheld by at least one site (fewer "
                f"than {k} events or non-events there); they are reported as not evaluable "
                "rather than pooled from the other sites, which would misstate them. See the "
                "disclosure log.",
            )
        )
    not_derivable = [
        (p, g)
        for p, g in table.cells()
        if not decision.hidden[p][g]
        and decision.confusion_hidden[p][g]
        and table.rows[p][g].confusion is None
    ]
    if not_derivable:
        out.append(
            Caveat(
                "threshold_not_derivable",
                "warning",
                f"For {len(not_derivable)} groups a site merged a histogram bin across the "
                "operating threshold (too few patients near it), so their threshold metrics "
                "could not be pooled exactly and are withheld.",
            )
        )
    return out


def _bootstrap_caveat(boot: _Boot) -> Caveat:
    if not boot.n_boot:
        return Caveat(
            "no_bootstrap",
            "info",
            "The pooled bootstrap was not run (n_boot = 0): Brier, balanced accuracy, F1, ECE, "
            "scaled Brier, discrimination slope, disparities and fairness summaries are point "
            "estimates here.",
        )
    text = (
        f"Bootstrap intervals (B = {boot.n_boot}, seed = {boot.seed}) resample, for each "
        "partition separately, the patients of each site x group as one multinomial draw over "
        "that stratum's merged (outcome x score bin) histogram entries from the site files "
        f"({boot.strata} strata in all); a group, its reference and the whole cohort come "
        "from the same draws. Finest cells (all attributes crossed) are not in the site files, "
        "so strata are coarser than in a single-site audit. Threshold metrics are exact per "
        "replicate; AUROC, Brier, O/E, ECE and the discrimination slope are computed on the "
        "merged bins (Brier with each bin's mean squared error estimated from its risk and "
        "logit sums) and shifted to the reported estimate. They give CIs to Brier, balanced "
        "accuracy, F1, ECE, scaled Brier, discrimination slope, every disparity and the "
        "fairness summaries. Still without a CI: AUPRC, ICI, E50, E90, Emax and "
        "Hosmer-Lemeshow (not computed), and the disparities of CITL and the calibration "
        "slope (no subgroup value)."
    )
    if boot.coarse_auroc:
        text += (
            f" {boot.coarse_auroc} groups get no AUROC interval and no interval for their "
            "AUROC differences and ratios: their score bins are so coarse (bin error bound "
            f"> {AUROC_CI_MAX_BOUND}) that the binned AUROC is mostly ties and its replicates "
            "measure the binning, not the model."
        )
    if boot.coarse_overall:
        text += (
            " For the same reason AUROC comparisons with the whole cohort have no interval "
            "in " + ", ".join(" x ".join(a) for a in boot.coarse_overall) + " (the whole "
            "cohort is resampled on that partition's bins there)."
        )
    if boot.rest_used:
        text += (
            " Where a site withheld a group, the rest of that site (its whole cohort minus "
            "the released groups, on the bins both share) is one more stratum of the whole "
            "cohort, so comparisons with the whole cohort stay joint."
        )
    if boot.no_overall:
        text += (
            " No interval for comparisons with the whole cohort in "
            + ", ".join(" x ".join(a) for a in boot.no_overall)
            + ": the rest of a site could not be formed from its file."
        )
    return Caveat("pooled_bootstrap", "info", text)


#: How the pooled audit's disclosure log words what the site files cannot give.
POOLED_WORDING = DisclosureWording(
    not_derivable=(
        "a site merged a histogram bin across the operating threshold, so "
        "the confusion counts there are not derivable from the site files"
    ),
    grid=(
        "at those thresholds a confusion-matrix cell has fewer than {k} "
        "patients, a site's histogram bin straddles the threshold, or the "
        "counts would let a withheld cell be derived"
    ),
)
#: The disclosure rules of a pooled audit, as ``settings.disclosure`` states them.
POOLED_DISCLOSURE_RULES = (
    "1: a group is released only with >= k events and >= k non-events (and only "
    "when no site withheld it)",
    "2: confusion counts and threshold metrics withheld when a cell is < k",
    "3: secondary suppression of siblings so withheld groups cannot be derived",
    "4: site files carry score histograms whose every count is 0 or >= k",
)


def _pooled_methods(s0: dict[str, Any], boot: _Boot, auc_bound: float | None) -> dict[str, Any]:
    """How the pooled numbers were computed (``methods`` of :func:`assemble_result`)."""
    return {
        "disparity_ci_method": (
            "pooled stratified bootstrap, percentile, of the difference (group - reference) "
            "and the ratio (group / reference) computed on the same replicate"
            if boot.n_boot
            else "none: the pooled bootstrap was not run (n_boot = 0); differences and "
            "ratios are point estimates"
        ),
        "bootstrap": {
            "n_boot": boot.n_boot,
            "seed": boot.seed,
            "strata": "per partition: site x group (the site files hold no finest cells); "
            "where a site withheld a group, the rest of that site on the bins both grids "
            "share, feeding the whole cohort only",
            "method": (
                "multinomial resampling of patients within each stratum over its merged "
                "(outcome x score bin) histogram entries from the site files; threshold "
                "metrics exact, AUROC (pairs in overlapping bins count one half), Brier, O/E, "
                "ECE and discrimination slope on the merged bins, each replicate shifted by "
                "(reported - binned point estimate); percentile intervals"
                if boot.n_boot
                else "not run (n_boot = 0)"
            ),
            "strata_count": boot.strata,
            "auroc_ci_max_bin_error_bound": AUROC_CI_MAX_BOUND,
            "auroc_vs_overall_without_interval": [list(a) for a in boot.coarse_overall],
            "score_bins": s0["score_grid"]["bins"],
            "score_bins_exact": False,
            "auroc_bin_error_bound": auc_bound,
        },
        "fairness_summaries": "fairlearn definitions, over released groups only (point estimates)",
        "calibration": {
            "hierarchy": "Van Calster et al. 2016/2019: mean (O/E), weak (CITL, slope); the "
            "flexible curve needs patient-level predictions and is not part of a pooled audit",
            "clipping": f"predictions clipped to [{s0['clip']:g}, 1 - {s0['clip']:g}] before "
            "logit, at each site",
            "oe": "O/E = sum(y) / sum(p) (not E/O)",
            "citl": "intercept of logit P(y=1) = a + offset(logit p); > 0: under-prediction; "
            "federated Newton fit on binned logits",
            "ece_bins": 10,
            **CURVE_SETTINGS,
        },
    }


# --------------------------------------------------------------------------------------------
# the pooled group table
# --------------------------------------------------------------------------------------------


def _pooled_row(p: int, g: int, est: _Pooled, *, threshold: float, z: float, k: int) -> GroupRow:
    """One pooled group as a row of the group table (what the aggregates allow, NaN else)."""
    confusion = est.confusion_at(threshold)
    grid = [est.confusion_at(float(t)) for t in THRESHOLD_GRID]
    counts = np.array(
        [(0, 0, 0, 0) if c is None else (c.tp, c.fp, c.tn, c.fn) for c in grid], dtype=np.int64
    )
    values: dict[str, float] = {m: math.nan for m in METRIC_KEYS}
    ci: dict[str, tuple[float, float]] = {}
    facts: dict[str, Any] = {}
    ece_rows: tuple[dict[str, Any], ...] = ()
    histogram = None
    if not est.withheld_at and est.n > 0 and 0 < est.events < est.n:
        metrics, info = _metrics(est, confusion, z=z, fit_calibration=not est.attributes)
        for key, mv in metrics.items():
            values[key] = math.nan if mv.value is None else mv.value
            if mv.ci_low is not None or mv.ci_high is not None:
                ci[key] = (
                    math.nan if mv.ci_low is None else mv.ci_low,
                    math.nan if mv.ci_high is None else mv.ci_high,
                )
        facts = {
            "smoother": {
                "method": "not computed (a pooled audit has no patient-level predictions)",
                "knots": 0,
                "knot_quantiles": [],
            },
            "knots_logit": [],
            "hosmer_lemeshow_chi2": None,
            "hosmer_lemeshow_groups": 0,
            "clipped_predictions": None,
            "problems": list(info["problems"]),
            "fit": "federated Newton on binned logits (sites.federated)",
            "federated_rounds": info["federated_rounds"],
            "auroc_bin_error_bound": finite(info["auroc_bin_error_bound"]),
            "sites": list(est.sites),
        }
        if info["ece_table"] is not None:
            ev, ne, sp = info["ece_table"]
            ece_rows = tuple(
                {
                    "lower": float(_ECE_CUTS[i]),
                    "upper": float(_ECE_CUTS[i + 1]),
                    "n": int(ev[i] + ne[i]),
                    "events": int(ev[i]),
                    "sum_p": finite(sp[i]),
                }
                for i in range(len(ev))
            )
        got = est.between(_HIST_CUTS)
        if got is not None:
            histogram = {
                "edges": [float(e) for e in _HIST_CUTS],
                "events": [int(x) for x in got[0]],
                "non_events": [int(x) for x in got[1]],
            }
    withheld = None
    if est.withheld_at:
        withheld = (
            "withheld at site(s) " + ", ".join(est.withheld_at) + f" (fewer than {k} "
            "events or non-events there, or secondary suppression); pooling only the "
            "other sites would misstate the group"
        )
    return GroupRow(
        partition=p,
        index=g,
        attributes=dict(est.attributes),
        n=est.n,
        events=est.events,
        confusion=confusion,
        values=values,
        ci=ci,
        grid_counts=counts,
        grid_derivable=np.array([c is not None for c in grid]),
        ece_table=ece_rows,
        calibration_facts=facts,
        risk_histogram=histogram,
        withheld_by_source=withheld,
    )
