"""Multi-site audit (issue 9): site export, pooling, heterogeneity, CLI.

The bundled sample is split into its 4 sites and into 3 random "sites"; each part is exported
and the parts are pooled, then compared with the centralised ``run_audit`` of the whole cohort:

* exact metrics (sums of sums) to 1e-10 relative -- the JSON keeps 12 significant digits;
* AUROC within the bin error bound the pooled result states for each group;
* CITL and the calibration slope of the whole cohort within 1e-3 (the federated fit runs on
  binned logits: two pseudo-rows per histogram bin and outcome at mean +- SD of the bin's
  logits; measured 6e-5 / 1.3e-4 on the 4-site split, < 0.01 of a standard error, against Wald
  CIs of width ~0.07-0.08). Subgroups get no binned fit (their bins are too coarse);
* bootstrap intervals (sites.bootstrap): every released disparity and bootstrap-CI metric gets
  a percentile CI containing its estimate, with widths close to the centralised audit's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit.audit import card_facts, run_audit
from cohortaudit.cli import main
from cohortaudit.config import AuditConfig
from cohortaudit.errors import InputError
from cohortaudit.pipeline import load_inputs
from cohortaudit.render.json import result_to_json, validate_result_dict
from cohortaudit.scoring import score
from cohortaudit.sites.binned import Binned as _Binned
from cohortaudit.sites.binned import binned_from_arrays as _binned_from_arrays
from cohortaudit.sites.bootstrap import Stratum, bootstrap_strata, remainder_bins
from cohortaudit.sites.export import (
    build_site_export,
    content_sha256,
    export_site,
    read_site_file,
    site_json,
    write_site_file,
)
from cohortaudit.sites.federated import SiteRows, federated_logistic
from cohortaudit.sites.meta import dersimonian_laird
from cohortaudit.sites.pool import (
    AUROC_CI_MAX_BOUND,
    BOOT_CI,
    binned_auroc,
    pool_sites,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
SITES = ("DE-Berlin", "FR-Lyon", "ES-Valencia", "FI-Tampere")
SENSITIVE = ("sex", "age", "ethnicity", "deprivation", "site")
EXACT = (
    "prevalence",
    "oe_ratio",
    "brier",
    "scaled_brier",
    "spiegelhalter_z",
    "spiegelhalter_p",
    "discrimination_slope",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "fnr",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "selection_rate",
    # sums of clipped p in the site bins: equal to the sums of p (no prediction within 1e-8
    # of 0 or 1 in the sample)
    "expected_sensitivity",
    "expected_specificity",
    "expected_ppv",
    "expected_npv",
)
FIT_TOL = 1e-3
CLI_BASE = [
    "--model", str(SAMPLE / "model.onnx"),
    "--card", str(SAMPLE / "model.card.yaml"),
    "--cohort", str(SAMPLE / "cohort.csv"),
    "--label", "cvd_10y",
    "--sensitive", *SENSITIVE,
    "--bins", "age=40,50,60,70,80",
    "--max-order", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def config() -> AuditConfig:
    return AuditConfig(
        label="cvd_10y",
        sensitive_features=SENSITIVE,
        bins={"age": (40, 50, 60, 70, 80)},
        n_boot=0,
        max_intersection_order=2,
    )


@pytest.fixture(scope="module")
def scored(config):
    inputs = load_inputs(
        cohort_path=SAMPLE / "cohort.csv",
        config=config,
        model_path=SAMPLE / "model.onnx",
        card_path=SAMPLE / "model.card.yaml",
    )
    y_score = score(inputs.model, inputs.cohort.features)
    central = run_audit(
        inputs.cohort, inputs.model, config, card=inputs.card, test_vectors=inputs.test_vectors
    )
    return inputs, np.asarray(y_score, dtype=float), central


def _export(scored, config, mask: np.ndarray, name: str) -> dict:
    inputs, y_score, _ = scored
    groups = inputs.cohort.groups.loc[mask].reset_index(drop=True)
    return build_site_export(
        y_score[mask],
        np.asarray(inputs.cohort.y_true)[mask],
        groups,
        config=config,
        threshold=0.1,
        threshold_source="model card",
        site=name,
        model={
            "kind": "onnx",
            "sha256": inputs.model.sha256,
            "file": "model.onnx",
            "card_sha256": inputs.card.sha256,
            "card": card_facts(inputs.card),
        },
        cohort={"file": "cohort.csv", "where": {}},
    )


@pytest.fixture(scope="module")
def by_site(scored, config):
    site = scored[0].cohort.groups["site"].to_numpy()
    return [_export(scored, config, site == s, s) for s in SITES]


@pytest.fixture(scope="module")
def random_split(scored, config):
    n = len(scored[1])
    part = np.random.default_rng(9).integers(0, 3, size=n)
    return [_export(scored, config, part == i, f"split-{i + 1}") for i in range(3)]


@pytest.fixture(scope="module")
def pooled_4(by_site):
    return pool_sites(by_site)


@pytest.fixture(scope="module")
def pooled_3(random_split):
    return pool_sites(random_split)


def _pairs(pooled, central):
    """(pooled group, central group) for every group released in both, whole cohort first."""
    out = [(pooled.overall, central.overall)]
    index = {tuple(sorted(g.attributes.items())): g for g in central.subgroups}
    for g in pooled.subgroups:
        c = index.get(tuple(sorted(g.attributes.items())))
        if c is not None and not g.suppressed and not c.suppressed:
            out.append((g, c))
    return out


@pytest.mark.parametrize("which", ["pooled_4", "pooled_3"])
def test_pooled_equals_centralised_where_exact(request, scored, which):
    pooled, central = request.getfixturevalue(which), scored[2]
    pairs = _pairs(pooled, central)
    assert len(pairs) > 40  # most groups are compared, not a handful
    compared = 0
    for g, c in pairs:
        assert (g.n, g.events) == (c.n, c.events), g.label
        for key in EXACT:
            if key in g.withheld or key in c.withheld:
                continue
            a, b = g.metrics[key], c.metrics[key]
            assert a.value == pytest.approx(b.value, rel=1e-10, abs=1e-12), (g.label, key)
            if key in ("oe_ratio", "prevalence", "sensitivity", "specificity", "ppv"):
                assert a.ci_low == pytest.approx(b.ci_low, rel=1e-10), (g.label, key)
                assert a.ci_high == pytest.approx(b.ci_high, rel=1e-10), (g.label, key)
            compared += 1
        for col, values in g.threshold_grid.items():
            for j, v in enumerate(values):
                if v is not None and c.threshold_grid[col][j] is not None:
                    assert v == c.threshold_grid[col][j], (g.label, col, j)
    assert compared > 500
    # the operating threshold (0.1) stays a bin edge at every site for the whole cohort
    assert pooled.overall.metrics["sensitivity"].value is not None


@pytest.mark.parametrize("which", ["pooled_4", "pooled_3"])
def test_auroc_within_stated_bound_and_fit_close(request, scored, which):
    pooled, central = request.getfixturevalue(which), scored[2]
    worst_fit = 0.0
    for g, c in _pairs(pooled, central):
        bound = g.calibration["auroc_bin_error_bound"]
        assert bound >= 0
        assert abs(g.metrics["auroc"].value - c.metrics["auroc"].value) <= bound + 1e-12, g.label
    # CITL / slope: the whole cohort only (subgroups are withheld, with a note)
    g, c = pooled.overall, central.overall
    for key in ("citl", "calibration_slope", "recalibration_intercept"):
        a, b = g.metrics[key].value, c.metrics[key].value
        worst_fit = max(worst_fit, abs(a - b))
        assert abs(a - b) <= FIT_TOL, (key, a, b)
        assert g.metrics[key].ci_high - g.metrics[key].ci_low == pytest.approx(
            c.metrics[key].ci_high - c.metrics[key].ci_low, rel=0.01
        )
    sub = pooled.subgroups[0]
    assert sub.metrics["calibration_slope"].value is None
    assert any("whole cohort and each site only" in x for x in sub.calibration["problems"])
    assert worst_fit > 0  # binned, so not identical: the test would notice a silent copy
    o = pooled.overall
    assert pooled.settings["bootstrap"]["auroc_bin_error_bound"] == pytest.approx(
        o.calibration["auroc_bin_error_bound"]
    )
    assert pooled.sites["pooled"]["auroc_bin_error_bound"] < 0.02


def test_pooled_result_is_valid_deterministic_and_has_site_subgroups(pooled_4, by_site, scored):
    validate_result_dict(pooled_4.to_dict())
    again = pool_sites(list(reversed(by_site)))  # order of the files does not matter
    strip = lambda r: json.loads(result_to_json(r)) | {"run": None}  # noqa: E731
    assert strip(again) == strip(pooled_4)
    a = result_to_json(pooled_4).split('"run"')[0]
    assert a == result_to_json(again).split('"run"')[0]
    central = scored[2]
    for s in SITES:
        assert pooled_4.subgroup(site=s).n == central.subgroup(site=s).n
    names = [e["name"] for e in pooled_4.sites["sites"]]
    assert names == sorted(SITES)
    assert {m["metric"] for m in pooled_4.sites["meta_analysis"]} == {
        "auroc",
        "oe_ratio",
        "calibration_slope",
    }
    for m in pooled_4.sites["meta_analysis"]:
        assert m["n_sites"] == 4 and m["prediction_interval"]["low"] is not None
        assert m["estimate"]["ci_low"] <= m["estimate"]["value"] <= m["estimate"]["ci_high"]
    # what cannot come from aggregates is None and explained
    assert pooled_4.overall.metrics["auprc"].value is None
    assert pooled_4.overall.metrics["ici"].value is None
    codes = {c.code for c in pooled_4.caveats}
    assert {"pooled_from_sites", "not_from_aggregates", "pooled_bootstrap"} <= codes
    assert "no_bootstrap" not in codes


def test_site_added_as_attribute_when_data_have_none(scored, config, random_split):
    """Sites are a subgroup even when 'site' is not a sensitive feature of the data."""
    cfg = AuditConfig(
        label="cvd_10y", sensitive_features=("sex",), n_boot=0, max_intersection_order=2
    )
    inputs, y_score, _ = scored
    part = np.random.default_rng(1).integers(0, 2, size=len(y_score))
    files = []
    for i in range(2):
        mask = part == i
        files.append(
            build_site_export(
                y_score[mask],
                np.asarray(inputs.cohort.y_true)[mask],
                inputs.cohort.groups.loc[mask].reset_index(drop=True),
                config=cfg,
                threshold=0.1,
                threshold_source="configuration",
                site=f"S{i}",
                model={"kind": "onnx", "sha256": inputs.model.sha256, "file": "m.onnx"},
                cohort={},
            )
        )
    r = pool_sites(files)
    assert r.cohort.sensitive_features == ("sex", "site")
    assert r.subgroup(site="S0").n == int((part == 0).sum())
    assert r.subgroup(sex="F", site="S1").n > 0
    assert r.sites["meta_analysis"][0]["prediction_interval"]["low"] is None  # 2 sites


def _walk_ints(obj, path=""):
    if isinstance(obj, bool):
        return
    if isinstance(obj, int):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_ints(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_ints(v, f"{path}/{i}")


@pytest.mark.parametrize("which", ["by_site", "random_split"])
def test_site_file_has_no_count_below_k(request, which):
    for data in request.getfixturevalue(which):
        k = data["settings"]["min_cell"]
        seen = 0
        for path, value in _walk_ints(json.loads(site_json(data))):
            if path == "/settings/max_intersection_order":  # a setting, not a count
                continue
            seen += 1
            assert value == 0 or value >= k, (data["site"], path, value)
        assert seen > 1000
        # sums of adjacent bins (e.g. confusion counts at a kept threshold) are safe too
        for g in data["groups"]:
            if g["suppressed"]:
                assert set(g) == {"attributes", "suppressed", "suppression_reason"}
                continue
            for key in ("events", "non_events"):
                cum = np.cumsum(g["histogram"][key])
                assert np.all((cum == 0) | (cum >= k))
                tail = cum[-1] - np.concatenate([[0], cum[:-1]])
                assert np.all((tail == 0) | (tail >= k))


def test_tampered_and_mismatched_files_are_rejected(tmp_path, by_site):
    paths = [write_site_file(d, tmp_path / f"{d['site']}.json") for d in by_site]
    # tampered: one count changed by hand
    text = paths[1].read_text()
    data = json.loads(text)
    g = next(x for x in data["groups"] if not x["suppressed"])
    g["n"] += 10
    paths[1].write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"'FR-Lyon\.json' \(site 'FR-Lyon'\) has been altered"):
        read_site_file(paths[1])
    # a different model, re-hashed so that only the model differs
    other = json.loads(site_json(by_site[2]))
    other["model"]["sha256"] = "0" * 64
    other["content_sha256"] = content_sha256(other)
    with pytest.raises(InputError, match=r"site 'ES-Valencia'.*different model SHA-256"):
        pool_sites([by_site[0], other], file_names=["a.json", "b.json"])
    # a different setting
    other = json.loads(site_json(by_site[2]))
    other["settings"]["min_cell"] = 5
    other["content_sha256"] = content_sha256(other)
    with pytest.raises(InputError, match=r"'b\.json' \(site 'ES-Valencia'\).*'min_cell' = 5"):
        pool_sites([by_site[0], other], file_names=["a.json", "b.json"])
    with pytest.raises(InputError, match="same site 'DE-Berlin'"):
        pool_sites([by_site[0], by_site[0]])


def test_cli_site_export_and_pool(tmp_path, capsys, by_site):
    out = tmp_path / "fi.json"
    assert main(["keygen", "--out", str(tmp_path / "fi")]) == 0
    rc = main(["site-export", *CLI_BASE, "--site", "FI-Tampere", "--where", "site=FI-Tampere",
               "--out", str(out), "--sign", str(tmp_path / "fi.key")])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "Wrote " + str(out) + ".sig (Ed25519 signature" in capsys.readouterr().out
    signed = out.read_bytes()
    capsys.readouterr()
    rc = main(["pool", str(out), "--out", str(tmp_path / "signed"),
               "--public-key", f"FI-Tampere={tmp_path / 'fi.pub'}"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "Signatures verified for: FI-Tampere." in capsys.readouterr().out
    exported = read_site_file(out)
    in_process = next(d for d in by_site if d["site"] == "FI-Tampere")
    assert exported["groups"] == in_process["groups"]
    assert exported["partitions"] == in_process["partitions"]
    assert exported["cohort"]["where"] == {"site": "FI-Tampere"}
    first = out.read_bytes()
    assert main(["site-export", *CLI_BASE, "--site", "FI-Tampere", "--where",
                 "site=FI-Tampere", "--out", str(out)]) == 0  # fmt: skip
    assert out.read_bytes() == first == signed  # byte-identical on a re-run, signed or not
    assert not (tmp_path / "fi.json.sig").exists()  # an unsigned re-export drops the old .sig
    others = [write_site_file(d, tmp_path / f"{d['site']}.json") for d in by_site[:3]]
    capsys.readouterr()
    rc = main(["pool", *map(str, others), str(out), "--out", str(tmp_path / "pooled")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "Random effects, auroc" in captured.out and "bin error <=" in captured.out
    validate_result_dict(json.loads((tmp_path / "pooled" / "audit.json").read_text()))

    # bad input: exit 2 with one clear line, no traceback
    bad = tmp_path / "bad.json"
    bad.write_text(out.read_text().replace('"n": 3044', '"n": 3045', 1))
    rc = main(["pool", str(others[0]), str(bad), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("InputError: The site file 'bad.json'") and "Trace" not in err
    rc = main(["pool", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x")])
    assert rc == 2 and "No site file at" in capsys.readouterr().err
    rc = main(["site-export", *CLI_BASE, "--site", "X", "--where", "site=Atlantis",
               "--out", str(tmp_path / "y.json")])  # fmt: skip
    assert rc == 2 and "keeps no row" in capsys.readouterr().err
    rc = main(["pool", str(others[0]), "--out", str(tmp_path / "x"), "--format", "docx"])
    assert rc == 2 and "--format" in capsys.readouterr().err


def test_withheld_group_at_a_site_is_not_pooled_silently(pooled_4, by_site):
    withheld = {
        tuple(sorted(g["attributes"].items()))
        for d in by_site
        for g in d["groups"]
        if g["suppressed"] and "site" not in g["attributes"]
    }
    assert withheld
    for g in pooled_4.subgroups:
        if tuple(sorted(g.attributes.items())) in withheld:
            assert g.suppressed and g.n is None
    reasons = [g.suppression_reason or "" for g in pooled_4.subgroups if g.suppressed]
    assert any("withheld at site(s)" in r for r in reasons)
    assert "withheld_at_site" in {c.code for c in pooled_4.caveats}


# ---------------------------------------------------------------------------- building blocks


def test_dersimonian_laird_hand_worked_and_statsmodels():
    from statsmodels.stats.meta_analysis import combine_effects

    y = np.array([0.1, 0.3, 0.2, 0.6])
    v = np.array([0.01, 0.02, 0.015, 0.03])
    r = dersimonian_laird(y, v)
    # by hand: w = 100, 50, 66.67, 33.33 (sum 250); y_FE = 58.33/250 = 0.23333; Q = 6.5556;
    # C = 250 - 20555.6/250 = 167.78; tau2 = (Q - 3)/C = 0.02; I2 = (Q - 3)/Q = 0.5424
    assert r.fixed_estimate == pytest.approx(0.7 / 3)
    assert r.q == pytest.approx(6.555556, abs=1e-6)
    assert r.tau2 == pytest.approx(0.02)
    assert r.i2 == pytest.approx(0.542373, abs=1e-6)
    sm = combine_effects(y, v, method_re="dl")
    assert r.estimate == pytest.approx(sm.mean_effect_re, rel=1e-12)
    assert r.se == pytest.approx(sm.sd_eff_w_re, rel=1e-12)
    assert r.tau2 == pytest.approx(sm.tau2, rel=1e-12)
    assert r.i2 == pytest.approx(sm.i2, rel=1e-12)
    assert r.q == pytest.approx(sm.q, rel=1e-12)
    lo, hi = sm.conf_int(use_t=False)[1]
    assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    # prediction interval: mu +- t(k-2) sqrt(tau2 + se^2)
    half = 4.302653 * math.sqrt(0.02 + r.se**2)
    assert r.pi_low == pytest.approx(r.estimate - half, rel=1e-6)
    assert dersimonian_laird([0.1], [0.01]) is None


def test_federated_newton_equals_one_fit_on_all_rows():
    from cohortaudit.metrics.calibration import fit_logistic

    rng = np.random.default_rng(3)
    sites = []
    for n in (300, 200, 500):
        x = rng.normal(-2, 1, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.2 + 0.8 * x)))).astype(float)
        sites.append(SiteRows(np.column_stack([np.ones(n), x]), y, np.ones(n), np.zeros(n)))
    fed = federated_logistic(sites, start=[0.0, 1.0])
    one = fit_logistic(np.vstack([s.X for s in sites]), np.concatenate([s.y for s in sites]))
    assert fed.converged and fed.rounds < 15
    np.testing.assert_allclose(fed.coef, one.coef, rtol=1e-9)
    np.testing.assert_allclose(fed.cov, one.cov, rtol=1e-6)


def test_binned_auroc_is_reference_formula():
    # the same bins for both outcomes: REFERENCE.md's AUC_bin and bound exactly
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    n1, n0 = np.array([0, 10, 20, 30]), np.array([30, 20, 10, 0])
    zeros = [0.0] * 4
    b = _Binned.from_record(
        edges,
        {"events": n1, "non_events": n0, "sum_p_events": zeros, "sum_p_non_events": zeros,
         "sum_logit_events": zeros, "sum_logit_non_events": zeros,
         "sum_logit2_events": zeros, "sum_logit2_non_events": zeros},
    )  # fmt: skip
    auc, se, bound = binned_auroc([b])
    below = np.concatenate([[0], np.cumsum(n0)[:-1]])
    expected = np.sum(n1 * (below + 0.5 * n0)) / (60 * 60)
    assert auc == pytest.approx(expected)
    assert bound == pytest.approx(0.5 * np.sum(n1 * n0) / 3600)
    assert 0 < se < 0.1


# ---------------------------------------------------------------------------- pooled bootstrap


def _bound(result, attrs: dict) -> float:
    g = result.overall if not attrs else result.subgroup(**attrs)
    return g.calibration["auroc_bin_error_bound"]


def test_pooled_disparities_and_bootstrap_metrics_have_cis(pooled_4):
    """Every released disparity with a value has a finite percentile CI around it.

    The one stated exception: AUROC (and its differences / ratios) of a group whose merged
    score bins are so coarse that the binned AUROC is mostly ties (bin error bound above
    AUROC_CI_MAX_BOUND), or, vs the whole cohort, of a partition whose bins make the whole
    cohort that coarse (listed in the settings); the caveat says so.
    """
    r = pooled_4
    coarse_whole = {tuple(a) for a in r.settings["bootstrap"]["auroc_vs_overall_without_interval"]}
    assert ("sex",) not in coarse_whole
    with_ci = {"group": 0, "overall": 0}
    for d in r.disparities:
        for mv in (d.difference, d.ratio):
            if mv.value is None:
                assert d.metric in ("auprc", "citl", "calibration_slope"), d
                assert mv.ci_low is None
                continue
            coarse = d.metric == "auroc" and (
                _bound(r, d.group) > AUROC_CI_MAX_BOUND
                or (d.reference_kind == "group" and _bound(r, d.reference) > AUROC_CI_MAX_BOUND)
                or (d.reference_kind == "overall" and tuple(d.group) in coarse_whole)
            )
            if coarse:
                assert mv.ci_low is None and mv.ci_high is None, d
                continue
            assert mv.ci_low is not None and mv.ci_high is not None, d
            assert math.isfinite(mv.ci_low) and math.isfinite(mv.ci_high)
            assert mv.ci_low <= mv.value <= mv.ci_high, d
            with_ci[d.reference_kind] += 1
    assert with_ci["group"] > 300 and with_ci["overall"] > 400
    # the case-mix split of every error-rate gap has intervals from the pooled replicates
    split = [d for d in r.disparities if d.case_mix is not None]
    assert {d.metric for d in split} == {"sensitivity", "specificity", "ppv", "npv"}
    assert len(split) > 200
    for d in split:
        for mv in (d.case_mix, d.beyond_case_mix):
            assert math.isfinite(mv.ci_low) and mv.ci_low <= mv.value <= mv.ci_high, d
    # the example of the issue: sex, both kinds, threshold metrics and AUROC
    for metric in ("auroc", "sensitivity", "fpr", "selection_rate", "oe_ratio", "brier"):
        for kind in ("group", "overall"):
            d = next(
                x
                for x in r.disparities
                if x.metric == metric and x.group == {"sex": "M"} and x.reference_kind == kind
            )
            assert d.difference.ci_low < d.difference.ci_high, (metric, kind)
    # per-group bootstrap metrics (ECE has no pooled value here: bins straddle its edges)
    checked = 0
    for g in [r.overall, *r.subgroups]:
        if g.suppressed:
            continue
        for key in BOOT_CI:
            mv = g.metrics[key]
            if mv.value is None:
                assert mv.ci_low is None
                continue
            assert mv.ci_low <= mv.value <= mv.ci_high, (g.label, key)
            checked += 1
    assert checked > 300
    # Fairness summaries are a max - min (or min / max) over groups: on each replicate the
    # noisiest groups set the extreme, so the replicates lean toward a wider gap than the point,
    # and a percentile interval can sit just beside its point (seen: 0.812 beside 0.650 to 0.809
    # for a 15-group ratio). Every interval must exist and be ordered; the point falls outside
    # for a few summaries only.
    outside = 0
    for f in r.fairness:
        assert math.isfinite(f.value.ci_low) and f.value.ci_low <= f.value.ci_high, f
        outside += not (f.value.ci_low <= f.value.value <= f.value.ci_high)
    assert outside <= max(1, len(r.fairness) // 20), (outside, len(r.fairness))
    boot = r.settings["bootstrap"]
    assert (boot["n_boot"], boot["seed"]) == (1000, AuditConfig(label="x").seed)
    assert r.config["n_boot"] == 1000
    text = next(c.message for c in r.caveats if c.code == "pooled_bootstrap")
    assert "B = 1000" in text and "site x group" in text and "Still without a CI" in text
    assert r.run["duration_seconds"] < 15


@pytest.fixture(scope="module")
def central_boot(scored):
    """The centralised audit with the bootstrap on (order 1 suffices for sex: same strata)."""
    inputs = scored[0]
    cfg = AuditConfig(
        label="cvd_10y",
        sensitive_features=SENSITIVE,
        bins={"age": (40, 50, 60, 70, 80)},
        n_boot=1000,
        max_intersection_order=1,
    )
    return run_audit(inputs.cohort, inputs.model, cfg, card=inputs.card)


def _width(result, metric: str, kind: str) -> float:
    d = next(
        x
        for x in result.disparities
        if x.metric == metric and x.group == {"sex": "M"} and x.reference_kind == kind
    )
    return d.difference.ci_high - d.difference.ci_low


def test_pooled_ci_widths_close_to_centralised(pooled_4, central_boot, scored):
    """ΔAUROC and Δsensitivity (sex M vs F, and vs overall): pooled CI width within 25 %.

    They are different bootstraps of the same quantity: the centralised one stratifies by the
    finest cell (all five attributes crossed) on 256 score-quantile bins, the pooled one by
    site x sex on the sites' merged bins, with different draws. Percentile limits of B = 1000
    replicates carry ~5-10 % Monte-Carlo error each, so 25 % leaves room for that and for the
    design difference (measured 1.02 / 0.99 for ΔAUROC, 1.07-1.09 for Δsensitivity). Metrics
    that vary strongly with age (specificity, selection rate) come out ~1.4x wider pooled:
    the coarser strata let the age mix vary. That this is the strata and not the pooling is
    checked against the engine run with the pooled strata (site x sex): within 10 %.
    """
    from cohortaudit.metrics.subgroups import compute_group_metrics

    for metric in ("auroc", "sensitivity"):
        for kind in ("group", "overall"):
            ratio = _width(pooled_4, metric, kind) / _width(central_boot, metric, kind)
            assert 0.75 < ratio < 1.25, (metric, kind, ratio)
    inputs, y_score, _ = scored
    engine = compute_group_metrics(
        y_score,
        np.asarray(inputs.cohort.y_true),
        inputs.cohort.groups[["sex", "site"]],
        threshold=0.1,
        z=1.959964,
        confidence=0.95,
        n_boot=1000,
        seed=7,
        max_bins=256,
        max_order=1,
    )
    p = next(i for i, part in enumerate(engine.partitions) if part.attributes == ("sex",))
    f, m = (engine.partitions[p].keys.index((v,)) for v in ("F", "M"))
    for metric in ("auroc", "sensitivity", "specificity", "selection_rate", "brier"):
        reps = engine.replicates[p][metric]
        lo, hi = np.quantile(reps[:, m] - reps[:, f], [0.025, 0.975])
        ratio = _width(pooled_4, metric, "group") / (hi - lo)
        assert 0.9 < ratio < 1.1, (metric, ratio)


def test_pooled_bootstrap_deterministic_and_seeded(by_site, pooled_4):
    strip = lambda r: result_to_json(r).split('"run"')[0]  # noqa: E731
    again = pool_sites(by_site)
    assert strip(again) == strip(pooled_4)
    other = pool_sites(by_site, seed=1, n_boot=200)
    assert other.settings["bootstrap"] == pooled_4.settings["bootstrap"] | {
        "n_boot": 200,
        "seed": 1,
    }
    d0, d1 = pooled_4.disparities[0], other.disparities[0]
    assert d0.difference.value == d1.difference.value
    assert d0.difference.ci_low != d1.difference.ci_low
    off = pool_sites(by_site, n_boot=0)
    assert "no_bootstrap" in {c.code for c in off.caveats}
    assert all(d.difference.ci_low is None for d in off.disparities)
    assert off.overall.metrics["brier"].ci_low is None
    validate_result_dict(off.to_dict())


def test_bootstrap_building_blocks(by_site):
    """Binned point estimates equal binned_auroc / exact sums; the rest of a site is exact."""
    strata, parts = [], []
    for d in by_site:
        edges = next(p["edges"] for p in d["partitions"] if p["attributes"] == ["sex"])
        for rec in d["groups"]:
            if list(rec["attributes"]) == ["sex"]:
                b = _Binned.from_record(edges, rec["histogram"])
                g = 0 if rec["attributes"]["sex"] == "F" else 1
                strata.append(Stratum(d["site"], (g, 2), b))
                parts.append((g, b))
    base, reps = bootstrap_strata(strata, 3, threshold=0.1, n_boot=20, rng=np.random.default_rng(0))
    for g in (0, 1):
        auc, _, bound = binned_auroc([b for h, b in parts if h == g])
        assert base["auroc"][g] == pytest.approx(auc, abs=1e-12)
        assert base["auroc_bin_error_bound"][g] == pytest.approx(bound, abs=1e-12)
    assert base["auroc"][2] == pytest.approx(binned_auroc([b for _, b in parts])[0], abs=1e-12)
    assert reps["auroc"].shape == (20, 3) and np.all(np.isfinite(reps["sensitivity"]))
    # the rest of a site: whole cohort minus one sex, on the shared edges = the other sex
    d = by_site[0]
    whole = _Binned.from_record(
        next(p["edges"] for p in d["partitions"] if not p["attributes"]),
        next(r for r in d["groups"] if not r["attributes"])["histogram"],
    )
    f, m = [b for h, b in parts[:2]]
    ok, rest = remainder_bins(whole, [f], _binned_from_arrays)
    assert ok and rest.events.sum() == m.events.sum()
    assert rest.non_events.sum() == m.non_events.sum()
    assert rest.sp1.sum() == pytest.approx(m.sp1.sum())
    assert binned_auroc([rest])[0] == pytest.approx(binned_auroc([m])[0], abs=0.05)


# ------------------------------------------------------------------ the shipped sample sites


SHIPPED_SITES = ("DE-Berlin", "ES-Valencia", "FI-Tampere", "FR-Lyon")


def _integers(node):
    """Every integer in a JSON tree, in document order (booleans excluded)."""
    if isinstance(node, bool):
        return
    if isinstance(node, int):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _integers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _integers(v)


def test_the_shipped_sample_sites_pool_in_one_command(tmp_path, capsys):
    """README: `cohortaudit pool sample_data/sites/*.json --out out/pooled` works as shipped."""
    files = [str(SAMPLE / "sites" / f"{s}.json") for s in SHIPPED_SITES]
    assert main(["pool", *files, "--out", str(tmp_path / "pooled"), "--quiet"]) == 0
    pooled = json.loads((tmp_path / "pooled" / "audit.json").read_text())
    assert pooled["cohort"]["n"] == len(pd.read_csv(SAMPLE / "cohort.csv"))
    assert pooled["sites"]["n_sites"] == 4


def test_the_shipped_sample_sites_are_current(tmp_path):
    """Each shipped file is what the README's export command writes today (every count equal,
    every other number to 1e-9: a different CPU may round a score's last bit differently)."""
    config = AuditConfig(
        label="cvd_10y",
        sensitive_features=("sex", "age", "ethnicity", "deprivation", "site"),
        bins={"age": (40, 50, 60, 70, 80)},
        max_intersection_order=2,
    )
    for site in ("FI-Tampere",):  # the smallest site: one export keeps the test quick
        fresh = export_site(
            cohort_path=SAMPLE / "cohort.csv",
            config=config,
            model_path=SAMPLE / "model.onnx",
            card_path=SAMPLE / "model.card.yaml",
            site=site,
            where={"site": site},
        )
        shipped = read_site_file(SAMPLE / "sites" / f"{site}.json")
        assert shipped["model"] == fresh["model"] and shipped["settings"] == fresh["settings"]
        assert list(_integers(shipped["groups"])) == list(_integers(fresh["groups"])), (
            "sample_data/sites is stale: re-run the README's site-export loop with "
            "--out sample_data/sites/$s.json"
        )
