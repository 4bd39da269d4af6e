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

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from cohortaudit.metrics.expected import EXPECTED_SETTINGS
from cohortaudit.metrics.subgroups import Partition
from cohortaudit.metrics.table import GroupTable, finite
from cohortaudit.registry import METRICS
from cohortaudit.results import AuditResult, Caveat, CohortInfo, MetricValue, ModelInfo
from cohortaudit.sites.binned import Binned, binned_auroc
from cohortaudit.sites.bootstrap import (
    AUROC_CI_MAX_BOUND,
    BOOT_CI,
    PooledBootstrap,
    pooled_bootstrap,
    with_bootstrap,
)
from cohortaudit.sites.checks import (
    check_compatible,
    check_no_duplicate_cohorts,
    check_site_file,
)
from cohortaudit.sites.export import read_site_file
from cohortaudit.sites.pooled_group import PooledGroup, pool_group, pooled_row
from cohortaudit.sites.signature import verify_site_signatures
from cohortaudit.sites.site_block import META_METRICS, SITE_ATTRIBUTE, sites_block

__all__ = [
    "pool_site_files",
    "pool_sites",
    "pool_cohort",
    "pooled_disclosure",
    "PooledCohort",
    "binned_auroc",
    "SITE_ATTRIBUTE",
    "NOT_FROM_AGGREGATES",
    "META_METRICS",
]

#: Metrics a coordinator cannot compute from the site files.
NOT_FROM_AGGREGATES = ("auprc", "ici", "e50", "e90", "emax", "hosmer_lemeshow_p")

#: How each metric's interval is computed in a pooled audit: the pooled table's ``ci_methods``
#: (stated in ``settings.ci_methods``; order kept, the report's table follows it).
POOLED_CI_METHODS = {
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
    pc = pool_cohort(sites, file_names=file_names, min_cell=min_cell)
    sites, names, table = pc.sites, pc.names, pc.table
    settings0 = sites[0]["settings"]
    k, z, confidence, threshold = pc.k, pc.z, pc.confidence, pc.threshold
    all_features, max_order, per_site, pooled = pc.features, pc.max_order, pc.per_site, pc.pooled
    decision = pooled_disclosure(table, k)
    boot = PooledBootstrap(n_boot=0, seed=None)
    if n_boot > 0:
        boot = pooled_bootstrap(
            table,
            decision,
            per_site,
            [d["site"] for d in sites],
            n_boot=n_boot,
            seed=seed,
            threshold=threshold,
            confidence=confidence,
        )
        table = with_bootstrap(table, boot)

    site_block, site_caveats = sites_block(sites, threshold=threshold, z=z, k=k, conf=confidence)
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
            },
            "expected_error_rates": {
                **EXPECTED_SETTINGS,
                "pooled": (
                    "from the site histograms' sums of clipped p (p clipped to [1e-8, 1 - 1e-8]) "
                    "in bins that do not straddle the threshold; null where a site's bin "
                    "straddles it (as the confusion counts)"
                ),
            },
        },
        claimed_metrics=model.card.get("claimed_metrics"),
        sites=site_block,
    )


@dataclass(frozen=True)
class PooledCohort:
    """The checked site files, in site order, pooled into one group table (no disclosure yet)."""

    sites: list[dict[str, Any]]
    names: list[str]
    k: int
    z: float
    confidence: float
    threshold: float
    features: tuple[str, ...]
    max_order: int
    per_site: list[dict[tuple, tuple[dict, Binned | None]]]
    pooled: list[list[PooledGroup]]
    table: GroupTable


def pool_cohort(
    sites: Sequence[dict[str, Any]],
    *,
    file_names: Sequence[str] | None = None,
    min_cell: int | None = None,
) -> PooledCohort:
    """Check the site files and pool their groups into the pooled cohort's group table.

    The table is what :func:`pooled_disclosure`, the pooled bootstrap and
    :func:`cohortaudit.assemble.assemble_result` read, as they read a single-site audit's.
    """
    names = list(file_names or [f"site file {i + 1}" for i in range(len(sites))])
    if not sites:
        raise InputError("Give at least one site file to pool.")
    if min_cell is not None and (
        isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 0
    ):
        raise ConfigError(f"--min-cell must be an integer >= 0. Got {min_cell!r} instead.")
    for d, f in zip(sites, names, strict=True):
        check_site_file(d, file_name=f, min_cell=min_cell)
    check_compatible(list(sites), names)
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
    per_site: list[dict[tuple, tuple[dict, Binned | None]]] = []
    attr_order: list[tuple[str, ...]] = []
    for d in sites:
        edges = {tuple(p["attributes"]): p["edges"] for p in d["partitions"]}
        table: dict[tuple, tuple[dict, Binned | None]] = {}
        for rec in d["groups"]:
            attrs = tuple(rec["attributes"])
            key = (attrs, tuple(rec["attributes"][a] for a in attrs))
            binned = (
                None if rec["suppressed"] else Binned.from_record(edges[attrs], rec["histogram"])
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
    pooled: list[list[PooledGroup]] = []
    for part in partitions:
        row = []
        for values in part.keys:
            key = (part.attributes, values)
            contrib = [
                (d["site"], t[key]) for d, t in zip(sites, per_site, strict=True) if key in t
            ]
            row.append(pool_group(part.attributes_of(part.keys.index(values)), contrib, k))
        pooled.append(row)

    # ---- the pooled cohort's group table
    table = GroupTable(
        partitions=tuple(partitions),
        rows=tuple(
            tuple(pooled_row(p, g, est, threshold=threshold, z=z, k=k) for g, est in enumerate(row))
            for p, row in enumerate(pooled)
        ),
        threshold=threshold,
        grid_exact=False,
        n_bins=settings0["score_grid"]["bins"],
        ci_methods=POOLED_CI_METHODS,
        bootstrap_ci=BOOT_CI,
    )
    return PooledCohort(
        sites=sites,
        names=names,
        k=k,
        z=z,
        confidence=confidence,
        threshold=threshold,
        features=all_features,
        max_order=max_order,
        per_site=per_site,
        pooled=pooled,
        table=table,
    )


def pooled_disclosure(table: GroupTable, k: int) -> DisclosureDecision:
    """:func:`cohortaudit.disclosure.apply_disclosure` with the pooled audit's wording and its
    threshold-grid rule (``grid_closure="siblings"``; see
    :data:`cohortaudit.disclosure.GRID_CLOSURES` for why it is kept)."""
    return apply_disclosure(
        table,
        k,
        curves_up_to_order=CURVES_UP_TO_ORDER,
        wording=POOLED_WORDING,
        grid_closure="siblings",
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
# caveats and the statement of the pooled methods
# --------------------------------------------------------------------------------------------


def _caveats(
    sites, table: GroupTable, decision: DisclosureDecision, k: int, boot: PooledBootstrap
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


def _bootstrap_caveat(boot: PooledBootstrap) -> Caveat:
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


def _pooled_methods(
    s0: dict[str, Any], boot: PooledBootstrap, auc_bound: float | None
) -> dict[str, Any]:
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
