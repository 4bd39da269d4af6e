"""One core object and one assembly (issue 15, point 2).

Every audit -- in memory, streamed, Dask, pooled -- ends its statistics in a frozen group table,
hands it to ``disclosure.apply_disclosure`` and gets its result from
``assemble.assemble_result``. These tests state that contract: the table cannot be changed
behind disclosure control's back, disclosure reads counts only, the pooled audit is assembled
by the same code as a local one, and ``sites/pool.py`` keeps only pooling mathematics.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.disclosure import (
    GRID_CLOSURES,
    apply_disclosure,
    apply_disclosure_control,
)
from cohortaudit.errors import ConfigError
from cohortaudit.metrics.subgroups import bootstrap_intervals, compute_point_estimates
from cohortaudit.metrics.table import GroupRow, GroupTable
from cohortaudit.sites.export import build_site_export, read_site_file
from cohortaudit.sites.pool import POOLED_WORDING, pool_cohort, pool_sites, pooled_disclosure

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cohortaudit"
SITE_FILES = sorted((ROOT / "sample_data" / "sites").glob("*.json"))
FEATURES = ("sex", "site", "eth")


def _data(n: int = 3000, seed: int = 5):
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "site": rng.choice(["s1", "s2", "s3", "s4"], n, p=[0.5, 0.3, 0.17, 0.03]),
            "eth": rng.choice(["A", "B", "C"], n, p=[0.8, 0.17, 0.03]),
        }
    )
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 1.5)))).astype(np.int8)
    p = 1 / (1 + np.exp(-(0.9 * x - 1.5)))
    return y, p, groups


def _table(n: int = 3000, seed: int = 5) -> tuple[GroupTable, np.ndarray, np.ndarray]:
    y, p, groups = _data(n, seed)
    table = compute_point_estimates(p, y, groups, threshold=0.3, z=1.959964, max_order=2)
    return table, y, p


def _config(**kw) -> AuditConfig:
    base = dict(
        label="y",
        sensitive_features=FEATURES,
        score_column="p",
        n_boot=0,
        min_cell=10,
        threshold=0.3,
        max_intersection_order=2,
    )
    return AuditConfig(**(base | kw))


# ---------------------------------------------------------------------------- the group table


def test_the_group_table_and_its_rows_are_frozen():
    table, _, _ = _table()
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.threshold = 0.5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.rows[0][0].n = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        table.rows[0][0].values["auroc"] = 0.99  # type: ignore[index]
    with pytest.raises(TypeError):
        table.rows[0][0].ci["auroc"] = (0.0, 1.0)  # type: ignore[index]
    assert isinstance(table.rows, tuple) and all(isinstance(r, tuple) for r in table.rows)


def test_the_table_reads_like_a_metric_frame_by_group():
    table, y, p = _table()
    by_sex = table.by_group("prevalence", ["sex"])
    assert list(by_sex.index) == ["F", "M"] and by_sex.index.name == "sex"
    _, _, groups = _data()
    for sex in ("F", "M"):
        assert by_sex.loc[sex] == pytest.approx(y[groups["sex"].to_numpy() == sex].mean())
    both = table.by_group("n_is_not_a_metric", ["sex", "site"])
    assert both.index.names == ["sex", "site"] and both.isna().all()
    with pytest.raises(ConfigError, match=r"no partition over \('age',\)"):
        table.by_group("auroc", ["age"])


def test_the_bootstrap_returns_a_new_table_and_leaves_the_one_disclosure_saw_unchanged():
    table, y, p = _table()
    decision = apply_disclosure(table, 10)
    before = [dict(r.ci) for row in table.rows for r in row]
    booted = bootstrap_intervals(
        table,
        p,
        y,
        released=[[not h for h in row] for row in decision.hidden],
        n_boot=40,
        seed=1,
        confidence=0.95,
        max_bins=64,
    )
    assert booted is not table
    assert table.replicates == () and table.n_boot == 0
    assert [dict(r.ci) for row in table.rows for r in row] == before
    assert booted.n_boot == 40 and len(booted.replicates) == len(table.partitions)
    whole = booted.rows[0][0]
    assert "brier" in whole.ci and "brier" not in table.rows[0][0].ci  # a bootstrap CI
    assert whole.ci["auroc"] == table.rows[0][0].ci["auroc"]  # DeLong's stays


def test_apply_disclosure_control_is_the_old_name_of_apply_disclosure():
    table, _, _ = _table()
    assert apply_disclosure_control is apply_disclosure
    assert apply_disclosure_control(table, k=10).hidden == apply_disclosure(table, 10).hidden


def test_apply_disclosure_names_an_unknown_grid_rule():
    table, _, _ = _table()
    both = table.by_group("n_is_not_a_metric", ["sex", "site"])
    assert both.index.names == ["sex", "site"] and both.isna().all()
    with pytest.raises(ConfigError, match=r"'grid_closure' parameter must be one of"):
        apply_disclosure(table, 10, grid_closure="loose")
    assert GRID_CLOSURES == ("counts", "siblings")


def _as_from_aggregates(row: GroupRow) -> GroupRow:
    """The row as a pooled source gives it: the same counts, no patient-level estimates."""
    return dataclasses.replace(
        row,
        values={k: math.nan for k in row.values},
        ci={},
        calibration=None,
        calibration_facts={},
        support=(math.inf, -math.inf),
    )


def test_disclosure_reads_counts_only_so_a_table_from_aggregates_hides_the_same_groups():
    exact, _, _ = _table()
    aggregate = dataclasses.replace(
        exact, rows=tuple(tuple(_as_from_aggregates(r) for r in row) for row in exact.rows)
    )
    a, b = apply_disclosure(exact, 10), apply_disclosure(aggregate, 10)
    assert any(h for row in a.hidden for h in row)  # the cohort has small groups to hide
    assert a.hidden == b.hidden
    assert a.confusion_hidden == b.confusion_hidden
    assert a.grid_hidden == b.grid_hidden
    assert a.log == b.log


def test_a_group_its_source_withheld_stays_withheld_with_the_sources_reason():
    table, _, _ = _table()
    p, g = 1, 0  # the first group of the first attribute: released on its own counts
    assert not apply_disclosure(table, 10).hidden[p][g]
    row = dataclasses.replace(table.rows[p][g], withheld_by_source="withheld at site X")
    rows = list(table.rows)
    rows[p] = (row, *rows[p][1:])
    decision = apply_disclosure(dataclasses.replace(table, rows=tuple(rows)), 10)
    assert decision.hidden[p][g]
    assert decision.reasons[(p, g)] == "withheld at site X"


# ------------------------------------------------------------------------- one assembly


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return names


def test_run_audit_and_pool_sites_both_call_apply_disclosure_and_assemble_result():
    audit = _calls(SRC / "audit.py")
    pool = _calls(SRC / "sites" / "pool.py")
    assert {"apply_disclosure", "assemble_result"} <= audit
    assert {"apply_disclosure", "assemble_result"} <= pool


def test_the_sites_package_builds_no_group_or_audit_result_and_has_no_disclosure_of_its_own():
    for path in sorted((SRC / "sites").glob("*.py")):
        calls = _calls(path)
        assert not calls & {"GroupResult", "AuditResult"}, path.name
        defined = {
            n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)
        }
        copies = {"_group_result", "_settings", "_references", "_disclose_groups", "_clean"}
        assert not defined & copies, (path.name, defined & copies)
        assert not defined & {"_log_confusion", "_disclose_grid"}, path.name


def test_a_pooled_single_site_file_reproduces_the_exact_audits_suppression_pattern():
    y, p, groups = _data()
    config = _config()
    cohort = SimpleNamespace(
        features=None,
        y_true=y,
        y_score=p,
        groups=groups,
        n_input_rows=len(y),
        n_dropped=0,
        caveats=(),
    )
    exact = run_audit(cohort, None, config)
    site = build_site_export(
        p,
        y,
        groups,
        config=config,
        threshold=0.3,
        threshold_source="configuration",
        site="s-all",
        model={"kind": "scores", "sha256": "0" * 64, "file": None, "card_sha256": None},
        cohort={"file": "cohort.csv", "where": {}},
    )
    pooled = pool_sites([site], n_boot=0)

    def pattern(result):
        return {
            tuple(sorted(g.attributes.items())): g.suppressed
            for g in (result.overall, *result.subgroups)
        }

    ours, theirs = pattern(exact), pattern(pooled)
    assert any(ours.values())  # small groups are suppressed in this cohort
    assert {key: theirs[key] for key in ours} == ours
    # the same assembly: the settings and caveat blocks have the same shape
    assert list(pooled.settings)[: len(exact.settings)] == list(exact.settings)
    assert pooled.settings["disclosure"]["min_cell"] == exact.settings["disclosure"]["min_cell"]


# ----------------------------------------------- where pooled disclosure still differs (kept)


def test_the_pooled_grid_rule_differs_from_the_single_site_rule_at_one_cell_of_the_sample():
    """Recorded, not hidden: on the bundled 4-site sample the single-site grid rule (every
    family closed with protect_counts, zero cells included) would withhold one more released
    cell than the pooled audit's older lone-sibling rule -- age [40, 50) x DE-Berlin at
    t = 0.06, where DE-Berlin's false negatives minus those of its released age groups is 0,
    which says that the withheld age groups there have no false negatives at 0.06. The pooled
    audit keeps its rule (``grid_closure="siblings"``) so that its golden output is unchanged."""
    pc = pool_cohort([read_site_file(f) for f in SITE_FILES])
    old = pooled_disclosure(pc.table, pc.k)
    new = apply_disclosure(pc.table, pc.k, grid_closure="counts", wording=POOLED_WORDING)
    assert new.hidden == old.hidden and new.confusion_hidden == old.confusion_hidden
    differ = [
        (pc.table.partitions[p].attributes_of(g), j)
        for p, row in enumerate(old.grid_hidden)
        for g, flags in enumerate(row)
        for j, flag in enumerate(flags)
        if flag != new.grid_hidden[p][g][j]
    ]
    assert differ == [({"age": "[40, 50)", "site": "DE-Berlin"}, 5)]
