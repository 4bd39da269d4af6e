"""Large cohorts (issue 8): streaming and the Dask engine give the in-memory audit exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit.cli import main
from cohortaudit.config import AuditConfig
from cohortaudit.engines import audit_files, should_stream
from cohortaudit.engines.stream import audit_stream, stream_cohort
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.render.json import result_to_json

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
MODEL = SAMPLE / "model.onnx"
CARD = SAMPLE / "model.card.yaml"
SENSITIVE = ("sex", "age", "ethnicity", "deprivation", "site")


def _config(**kw) -> AuditConfig:
    base = dict(
        label="cvd_10y",
        sensitive_features=SENSITIVE,
        bins={"age": (40, 50, 60, 70, 80)},
        n_boot=40,
        max_intersection_order=1,
        safety=False,
    )
    base.update(kw)
    return AuditConfig(**base)


def _json(result, *, drop_identity: bool = False) -> str:
    d = json.loads(result_to_json(result))
    d.pop("run")
    if drop_identity:
        d["cohort"].pop("sha256")
        d["cohort"].pop("file")
    return json.dumps(d, sort_keys=True)


@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory) -> dict[str, Path]:
    """The sample cohort with a problem of every survivable kind, as Parquet and CSV."""
    frame = pd.read_parquet(SAMPLE / "cohort.parquet")
    frame["cvd_10y"] = frame["cvd_10y"].astype("float64")
    frame.loc[3000:3010, "cvd_10y"] = np.nan  # missing label -> dropped
    frame["sbp"] = frame["sbp"].astype("float64")
    frame.loc[12000:12004, "sbp"] = np.nan  # missing required input -> dropped
    frame.loc[15000:15019, "smoking"] = "vaping"  # a category the card does not list
    frame.loc[21000:21004, "ethnicity"] = (
        None  # missing sensitive value -> group "missing (no value)"
    )
    frame["note"] = "free text"  # a column nobody uses
    out = tmp_path_factory.mktemp("scale")
    paths = {"parquet": out / "cohort.parquet", "csv": out / "cohort.csv"}
    frame.to_parquet(paths["parquet"], index=False, row_group_size=5000)
    frame.to_csv(paths["csv"], index=False)
    return paths


@pytest.fixture(scope="module")
def in_memory(cohort_files) -> dict[str, str]:
    """The in-memory audits the streamed ones must equal."""
    return {
        kind: _json(
            audit_files(cohort_path=path, config=_config(), model_path=MODEL, card_path=CARD)
        )
        for kind, path in cohort_files.items()
    }


@pytest.mark.parametrize(
    ("kind", "chunk_rows"), [("parquet", 25_000), ("parquet", 4096), ("csv", 7000), ("csv", 999)]
)
def test_streaming_equals_the_in_memory_audit_byte_for_byte(
    cohort_files, in_memory, kind, chunk_rows
):
    result = audit_stream(
        cohort_path=cohort_files[kind],
        config=_config(),
        model_path=MODEL,
        card_path=CARD,
        chunk_rows=chunk_rows,
    )
    assert _json(result) == in_memory[kind]
    codes = {c.code for c in result.caveats}
    assert {"missing_label", "missing_inputs", "unseen_category", "missing_sensitive"} <= codes
    assert {"out_of_range", "outside_bins", "ignored_columns"} <= codes
    assert result.run["engine"]["kind"] == "streaming"
    assert result.run["engine"]["n_chunks"] == -(-25_000 // chunk_rows)


@pytest.mark.slow
def test_safety_checks_are_identical_when_the_sample_holds_the_whole_cohort(cohort_files):
    config = _config(safety=True, robustness_rows=2000)
    kw = dict(config=config, model_path=MODEL, card_path=CARD)
    expected = _json(audit_files(cohort_path=cohort_files["parquet"], **kw))
    streamed = audit_stream(
        cohort_path=cohort_files["parquet"], chunk_rows=6000, sample_rows=30_000, **kw
    )
    assert _json(streamed) == expected
    assert streamed.safety is not None


def test_scores_mode_streams_too(tmp_path, make_cohort_frame):
    frame = make_cohort_frame(3000)
    frame.loc[100:110, "score"] = np.nan
    frame.loc[200:205, "site"] = None
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index=False)
    config = AuditConfig(
        label="y",
        score_column="score",
        sensitive_features=("sex", "age", "site"),
        bins={"age": (30, 50, 70)},
        n_boot=30,
        safety=False,
    )
    expected = _json(audit_files(cohort_path=path, config=config))
    got = audit_stream(cohort_path=path, config=config, chunk_rows=250)
    assert _json(got) == expected
    assert {"missing_score", "missing_sensitive", "outside_bins"} <= {c.code for c in got.caveats}


def test_whole_cohort_checks_run_on_the_whole_cohort_not_per_chunk(tmp_path, make_cohort_frame):
    # sorted by outcome: the first chunks hold no events; labels missing in one chunk only
    frame = make_cohort_frame(2000).sort_values("y", kind="stable").reset_index(drop=True)
    frame["y"] = frame["y"].astype("float64")
    frame.loc[0:299, "y"] = np.nan  # 300 of the first 400 rows: 75% of a chunk, 15% overall
    path = tmp_path / "sorted.parquet"
    frame.to_parquet(path, index=False)
    config = AuditConfig(label="y", score_column="score", sensitive_features=("sex",), n_boot=20)
    expected = _json(audit_files(cohort_path=path, config=config))
    assert _json(audit_stream(cohort_path=path, config=config, chunk_rows=400)) == expected


def test_a_bad_label_in_a_later_chunk_stops_with_the_clear_message_and_its_rows(cohort_files):
    frame = pd.read_parquet(cohort_files["parquet"])
    frame.loc[20_001, "cvd_10y"] = 2.0
    path = cohort_files["parquet"].with_name("bad.parquet")
    frame.to_parquet(path, index=False)
    with pytest.raises(SchemaError, match="The label column 'cvd_10y' must be binary") as info:
        audit_stream(
            cohort_path=path, config=_config(), model_path=MODEL, card_path=CARD, chunk_rows=5000
        )
    assert "1 of 5000 rows" in str(info.value)
    assert "Found in rows 20,001-25,000 of 'bad.parquet'" in str(info.value)


def test_the_cli_streams_with_chunk_rows_and_routes_engine_options(tmp_path, capsys):
    common = [
        "audit", "--model", str(MODEL), "--card", str(CARD),
        "--cohort", str(SAMPLE / "cohort.parquet"), "--label", "cvd_10y",
        "--sensitive", "sex", "age", "--bins", "age=40,60,80", "--n-boot", "20",
        "--max-order", "1", "--no-safety", "--no-explain", "--quiet",
    ]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "mem")]) == 0
    assert main([*common, "--out", str(tmp_path / "chunks"), "--chunk-rows", "6000"]) == 0
    mem = json.loads((tmp_path / "mem" / "audit.json").read_text())
    chunks = json.loads((tmp_path / "chunks" / "audit.json").read_text())
    assert chunks.pop("run")["engine"]["n_chunks"] == 5
    mem.pop("run")
    assert chunks == mem
    capsys.readouterr()
    code = main([*common, "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ConfigError: --scheduler needs --engine dask")


def test_chunk_rows_must_be_positive():
    with pytest.raises(ConfigError, match="'chunk_rows' parameter .* positive integer. Got 0"):
        audit_stream(
            cohort_path=SAMPLE / "cohort.csv", config=_config(), model_path=MODEL, chunk_rows=0
        )


def test_the_feature_sample_does_not_depend_on_chunking_and_is_weighted(cohort_files):
    from cohortaudit.intake.card import load_card
    from cohortaudit.intake.model import load_model

    card = load_card(CARD)
    model = load_model(MODEL, card=card)
    samples = [
        stream_cohort(
            cohort_files["parquet"], config=_config(), model=model, card=card,
            chunk_rows=rows, sample_rows=3000,
        )
        for rows in (25_000, 1234)
    ]  # fmt: skip
    a, b = (s.sample for s in samples)
    assert np.array_equal(a.rows, b.rows)
    pd.testing.assert_frame_equal(a.features, b.features)
    assert int(a.uniform.sum()) == 3000
    assert a.n_rows > 3000  # the per-stratum floor adds rows of small strata
    n = samples[0].cohort.n_rows
    assert a.weights.sum() == pytest.approx(n)
    assert list(a.features.columns) == [i.name for i in model.inputs]


def test_large_files_are_streamed_automatically(cohort_files):
    assert not should_stream(cohort_files["parquet"])
    assert should_stream(cohort_files["parquet"], parquet_rows=10_000)
    assert should_stream(cohort_files["csv"], csv_bytes=1000)
    assert not should_stream(cohort_files["csv"].with_name("absent.csv"))


@pytest.mark.slow
def test_dask_on_a_local_cluster_equals_the_local_engine(tmp_path):
    from distributed import Client, LocalCluster

    from cohortaudit.engines.dask import audit_dask, dataset_sha256

    frame = pd.read_parquet(SAMPLE / "cohort.parquet")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for i, start in enumerate(range(0, len(frame), 6000)):  # 5 parts, the last one small
        frame.iloc[start : start + 6000].to_parquet(dataset / f"part.{i}.parquet", index=False)
    (dataset / "_SUCCESS").write_text("")
    kw = dict(config=_config(), model_path=MODEL, card_path=CARD)
    expected = _json(audit_files(cohort_path=SAMPLE / "cohort.parquet", **kw), drop_identity=True)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        result = audit_dask(dataset=dataset, client=client, **kw)
    assert _json(result, drop_identity=True) == expected
    assert result.cohort.file == "dataset"
    assert result.cohort.sha256 == dataset_sha256(dataset, sorted(dataset.glob("part.*")))
    assert result.run["engine"]["kind"] == "dask"
    assert result.run["engine"]["n_chunks"] == 5


def test_dask_threads_equal_the_local_engine_and_errors_name_the_partition(tmp_path):
    from cohortaudit.engines.dask import audit_dask

    frame = pd.read_parquet(SAMPLE / "cohort.parquet")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for i in range(3):
        frame.iloc[i * 9000 : (i + 1) * 9000].to_parquet(dataset / f"p{i}.parquet", index=False)
    kw = dict(config=_config(), model_path=MODEL, card_path=CARD)
    expected = _json(audit_files(cohort_path=SAMPLE / "cohort.parquet", **kw), drop_identity=True)
    assert _json(audit_dask(dataset=dataset, **kw), drop_identity=True) == expected

    bad = frame.iloc[18000:].copy()
    bad["cvd_10y"] = bad["cvd_10y"].astype("float64")
    bad.iloc[5, bad.columns.get_loc("cvd_10y")] = 3.0
    bad.to_parquet(dataset / "p2.parquet", index=False)
    with pytest.raises(SchemaError, match="must be binary.*Found in partition 3 of the dataset"):
        audit_dask(dataset=dataset, **kw)
    with pytest.raises(ConfigError, match="--chunk-rows applies to the local engine"):
        from cohortaudit.engines import audit_with_engine

        audit_with_engine(engine="dask", chunk_rows=10, cohort_path=dataset, **kw)
