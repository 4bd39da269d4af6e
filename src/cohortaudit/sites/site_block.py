"""The ``sites`` block of a pooled result: each site's own metrics and the meta-analysis.

Per site, from its whole-cohort histogram: AUROC (binned), O/E, CITL and slope (federated
fits), sensitivity and specificity, with the variances the random-effects meta-analysis of
logit AUROC, ln O/E and the slope needs (:func:`cohortaudit.sites.meta.dersimonian_laird`).
"""

from __future__ import annotations

import math
from typing import Any

from cohortaudit.metrics.calibration import log_oe_se
from cohortaudit.metrics.table import finite
from cohortaudit.results import Caveat, MetricValue
from cohortaudit.sites.binned import Binned, binned_auroc
from cohortaudit.sites.meta import dersimonian_laird
from cohortaudit.sites.pooled_group import PooledGroup, fit_binned, pooled_metrics

__all__ = ["META_METRICS", "SITE_ATTRIBUTE", "TRANSFORMS", "site_metrics", "sites_block"]

#: Name of the attribute added for the site when the data carry no sensitive feature "site".
SITE_ATTRIBUTE = "site"
#: Metrics meta-analysed across sites, with the scale of the analysis.
META_METRICS = (
    ("auroc", "logit"),
    ("oe_ratio", "log"),
    ("calibration_slope", "identity"),
)


def site_metrics(d: dict[str, Any], *, threshold: float, z: float, k: int) -> dict[str, Any]:
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
    est = PooledGroup(
        {},
        [d["site"]],
        [],
        [Binned.from_record(edges, rec["histogram"])],
        n=int(rec["n"]),
        events=int(rec["events"]),
        sums=dict(rec["sums"]),
    )
    conf = est.confusion_at(threshold)
    if conf is not None and min(conf.tp, conf.fp, conf.tn, conf.fn) < k:
        conf = None
    metrics, info = pooled_metrics(est, conf, z=z)
    auc, se, _ = binned_auroc(est.parts)
    slope = fit_binned(est.parts, slope=True, start=[0.0, 1.0])
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
            "oe_ratio_log": finite(log_oe_se(est.events, est.n) ** 2) if est.events else None,
            "calibration_slope": finite(slope.cov[1, 1]) if slope.converged else None,
        },
    )
    return entry


TRANSFORMS = {
    "logit": (lambda x: math.log(x / (1 - x)), lambda x: 1 / (1 + math.exp(-x)), "auroc_logit"),
    "log": (math.log, math.exp, "oe_ratio_log"),
    "identity": (lambda x: x, lambda x: x, "calibration_slope"),
}


def sites_block(sites, *, threshold: float, z: float, k: int, conf: float):
    entries = [site_metrics(d, threshold=threshold, z=z, k=k) for d in sites]
    meta = []
    caveats: list[Caveat] = []
    for metric, scale in META_METRICS:
        fwd, back, var_key = TRANSFORMS[scale]
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
            "binned scores; ln O/E: (1 - O/n)/O; slope: Wald variance of the binned fit",
            "not_computable": "AUPRC, ICI, E50, E90, Emax, Hosmer-Lemeshow",
            "bootstrap": "per partition, site x group strata resampled over their histogram "
            "entries (sites.bootstrap); percentile CIs of bootstrap metrics and disparities",
        },
    }
    return block, caveats


def _clean_mv(d: dict[str, Any]) -> dict[str, Any]:
    return MetricValue.from_dict(d).to_dict()
