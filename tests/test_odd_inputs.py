"""Odd but real inputs end in a clear exit-2 message or just work (issue 14, point 6).

* ``--scheduler`` pointing at something that is not a Dask scheduler (a server sending garbage,
  a silent one, an HTTP server) fails within the timeout, allocating nothing;
* Parquet struct / list columns: ignored (and counted) when unused, named when used;
* a valid CSV with 6,000 columns (a header above 64 KiB) is read as it is.

Every case runs the real CLI in a subprocess, on real files and real sockets.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
MODEL, CARD = SAMPLE / "model.onnx", SAMPLE / "model.card.yaml"
TIMEOUT = 3  # seconds: COHORTAUDIT_SCHEDULER_TIMEOUT for these tests


def _cli(*args: str, env: dict | None = None, timeout: float = 240):
    """``cohortaudit`` as a user runs it; returns (exit code, stdout, stderr, seconds)."""
    argv = [
        sys.executable,
        "-c",
        "import sys; from cohortaudit.cli import main; sys.exit(main(sys.argv[1:]))",
        *args,
    ]
    environ = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", **(env or {})}
    environ.pop("COHORTAUDIT_DEBUG", None)
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def _audit(cohort: Path, out: Path, *extra: str, env: dict | None = None, timeout: float = 240):
    return _cli(
        "audit",
        "--model",
        str(MODEL),
        "--card",
        str(CARD),
        "--cohort",
        str(cohort),
        "--label",
        "cvd_10y",
        "--n-boot",
        "10",
        "--no-explain",
        "--no-safety",
        "--out",
        str(out),
        "--quiet",
        *extra,
        env=env,
        timeout=timeout,
    )


# ------------------------------------------------------------------ --scheduler


class _FakeServer:
    """A TCP server on localhost that accepts and then sends ``greeting`` (or nothing)."""

    def __init__(self, greeting: bytes | None, *, http: bool = False) -> None:
        self.greeting, self.http = greeting, http
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            try:
                if self.http:
                    conn.settimeout(5)
                    conn.recv(4096)  # an HTTP server answers only after a request
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                elif self.greeting:
                    conn.sendall(self.greeting)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture(scope="module")
def parquet_cohort(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pq") / "cohort.parquet"
    pd.read_csv(SAMPLE / "cohort.csv").head(2000).to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    "greeting, http, why",
    [
        (b"\xff" * 8, False, "does not speak the Dask protocol"),  # a 16 EiB frame "length"
        (struct.pack("<Q", 2**40) + b"x", False, "does not speak the Dask protocol"),  # 1 TiB
        (struct.pack("<Q", 100), False, f"no Dask handshake within {TIMEOUT} s"),  # stalls
        (struct.pack("<Q", 100) + b"\xc1" * 100, False, "does not speak the Dask protocol"),
        (None, False, f"no Dask handshake within {TIMEOUT} s"),  # accepts, says nothing
        (None, True, f"no Dask handshake within {TIMEOUT} s"),  # an HTTP server
    ],
    ids=["ff-bytes", "huge-length", "stalls", "garbage-message", "silent", "http"],
)
def test_a_scheduler_address_that_is_not_dask_fails_fast_with_exit_2(
    tmp_path, parquet_cohort, greeting, http, why
):
    server = _FakeServer(greeting, http=http)
    try:
        code, _, err, seconds = _audit(
            parquet_cohort,
            tmp_path / "out",
            "--sensitive",
            "sex",
            "--engine",
            "dask",
            "--scheduler",
            f"tcp://127.0.0.1:{server.port}",
            env={"COHORTAUDIT_SCHEDULER_TIMEOUT": str(TIMEOUT)},
            timeout=120,
        )
    finally:
        server.close()
    assert code == 2, err
    assert err.startswith(
        f"ConfigError: Could not connect to the Dask scheduler at 'tcp://127.0.0.1:{server.port}'"
    ), err
    assert why in err and "leave out --scheduler" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # fails within the timeout, plus the CLI's start-up and the model load (no hang)
    assert seconds < TIMEOUT + 40, seconds
    assert not (tmp_path / "out" / "audit.json").exists()


def test_a_closed_port_and_a_bad_timeout_setting_are_clear_too(tmp_path, parquet_cohort):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    common = ["--sensitive", "sex", "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"]
    code, _, err, _ = _audit(parquet_cohort, tmp_path / "a", *common)
    assert code == 2 and "Could not connect to the Dask scheduler" in err, err
    code, _, err, _ = _audit(
        parquet_cohort, tmp_path / "b", *common, env={"COHORTAUDIT_SCHEDULER_TIMEOUT": "soon"}
    )
    assert code == 2, err
    assert "COHORTAUDIT_SCHEDULER_TIMEOUT must be a number of seconds above 0" in err


def test_a_real_scheduler_still_connects():
    distributed = pytest.importorskip("distributed")
    from cohortaudit.engines.dask import _client

    with distributed.LocalCluster(
        n_workers=1, processes=False, dashboard_address=":0", protocol="tcp://"
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")  # the probed transport
        client, close = _client(cluster.scheduler_address, timeout=TIMEOUT)
        try:
            assert client.submit(sum, [40, 2]).result(timeout=30) == 42
        finally:
            close()


# ------------------------------------------------------------------ nested Parquet columns


@pytest.fixture(scope="module")
def nested_cohort(tmp_path_factory) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(SAMPLE / "cohort.csv").head(3000)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    n = len(frame)
    table = table.append_column("visit", pa.array([{"code": "A1", "day": 3}] * n))  # struct
    table = table.append_column("drugs", pa.array([[1, 2, 3]] * n))  # list
    table = table.append_column(
        "labs", pa.array([[("hba1c", 48.0)]] * n, type=pa.map_(pa.string(), pa.float64()))
    )
    path = tmp_path_factory.mktemp("nested") / "nested.parquet"
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("extra", [[], ["--chunk-rows", "1000"], ["--engine", "dask"]])
def test_unused_nested_columns_are_ignored_and_counted(tmp_path, nested_cohort, extra):
    code, _, err, _ = _audit(nested_cohort, tmp_path / "out", "--sensitive", "sex", *extra)
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    ignored = next(c for c in data["caveats"] if c["code"] == "ignored_columns")
    # the sample's unused columns (site, ethnicity, deprivation) and the three nested ones
    assert ignored["where"]["n_columns"] == 6


@pytest.mark.parametrize(
    "args, column",
    [
        (["--sensitive", "visit"], "visit"),
        (["--sensitive", "sex", "drugs", "--chunk-rows", "1000"], "drugs"),
        (["--sensitive", "labs", "--engine", "dask"], "labs"),
        (["--sensitive", "sex", "--score-column", "drugs"], "drugs"),
    ],
    ids=["struct-attribute", "list-attribute-streamed", "map-attribute-dask", "list-score"],
)
def test_a_used_nested_column_is_named_and_refused(tmp_path, nested_cohort, args, column):
    if "--score-column" in args:  # scores mode: no model
        code, _, err, _ = _cli(
            "audit",
            "--cohort",
            str(nested_cohort),
            "--label",
            "cvd_10y",
            "--n-boot",
            "10",
            "--out",
            str(tmp_path / "out"),
            *args,
        )
    else:
        code, _, err, _ = _audit(nested_cohort, tmp_path / "out", *args)
    assert code == 2, err
    assert err.startswith(f"SchemaError: The cohort column '{column}' holds nested values"), err
    assert "Flatten it into plain columns" in err and "Traceback" not in err


def test_a_nested_column_in_place_of_a_model_input_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(SAMPLE / "cohort.csv").head(2000)
    table = pa.Table.from_pandas(frame.drop(columns="bmi"), preserve_index=False)
    table = table.append_column("bmi", pa.array([[27.0, 28.0]] * len(frame)))
    pq.write_table(table, tmp_path / "c.parquet")
    code, _, err, _ = _audit(tmp_path / "c.parquet", tmp_path / "out", "--sensitive", "sex")
    assert code == 2 and "The cohort column 'bmi' holds nested values" in err, err


# ------------------------------------------------------------------ a very wide CSV


def test_a_valid_csv_with_6000_columns_is_read_as_it_is(tmp_path):
    frame = pd.read_csv(SAMPLE / "cohort.csv").head(1200).reset_index(drop=True)
    extra = pd.DataFrame(
        np.zeros((len(frame), 6000), dtype=np.int8),
        columns=[f"extra_measurement_{i:04d}" for i in range(6000)],
    )
    path = tmp_path / "wide.csv"
    pd.concat([frame, extra], axis=1).to_csv(path, index=False)
    with open(path, "rb") as fh:
        assert len(fh.readline()) > 64 * 1024  # the header alone is above the old 64 KiB read
    for sub, extra_args in (("mem", []), ("chunks", ["--chunk-rows", "500"])):
        code, _, err, _ = _audit(path, tmp_path / sub, "--sensitive", "sex", *extra_args)
        assert code == 0, err
        data = json.loads((tmp_path / sub / "audit.json").read_text())
        assert data["cohort"]["n"] == 1200
        ignored = next(c for c in data["caveats"] if c["code"] == "ignored_columns")
        assert ignored["where"]["n_columns"] == 6003  # 6,000 extra + site, ethnicity, depr.


def test_the_header_reader_keeps_quoted_line_breaks_and_bounds_its_read(tmp_path):
    from cohortaudit.errors import SchemaError
    from cohortaudit.intake.tables import read_csv_header

    path = tmp_path / "q.csv"
    names = ['a "quoted"\nname', *(f"c{i:05d}" for i in range(20000))]
    pd.DataFrame([range(len(names))], columns=names).to_csv(path, index=False)
    assert read_csv_header(path, ",") == names
    broken = tmp_path / "broken.csv"
    with open(broken, "wb") as fh:  # an unclosed quote: the "header" never ends
        fh.write(b'"a,b\n' + b"x" * (17 * 2**20))
    with pytest.raises(SchemaError, match="header row .* is longer than 16.0 MB"):
        read_csv_header(broken, ",")


# ------------------------------------------------------------------ very long group names


def test_group_names_of_thousands_of_characters_give_a_readable_pdf(tmp_path):
    """A 3,000-character value and a 2,800-character multi-word one: the report is written
    (with its manifest), the summary stays short and names are shortened with a note;
    audit.json keeps the names in full."""
    frame = pd.read_csv(SAMPLE / "cohort.csv").head(1500).reset_index(drop=True)
    long_sex, long_site = "x" * 3000, "Berlin " * 400
    frame.loc[frame["sex"] == "M", "sex"] = long_sex
    frame.loc[frame["site"] == "DE-Berlin", "site"] = long_site
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    code, _, err, _ = _audit(path, out, "--sensitive", "sex", "site", "--format", "json,pdf,html")
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {
        "audit.json",
        "audit.pdf",
        "audit.html",
        "manifest.json",
    }
    data = json.loads((out / "audit.json").read_text())
    values = {v for g in data["subgroups"] for v in g["attributes"].values()}
    assert long_sex in values and long_site.strip() in {v.strip() for v in values}
    text = subprocess.run(
        ["pdftotext", "-layout", str(out / "audit.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pages = text.split("\f")
    summary = next(p for p in pages if "1 Executive summary" in p and "Contents" not in p)
    assert "x" * 200 not in summary and "Berlin " * 20 not in summary
    assert "x" * 200 not in text  # no table cell, chart label or sentence holds the full name
    assert "this report shortens them" in " ".join(text.split())
    start = pages.index(summary)  # the summary is one page; the key numbers follow it
    assert "2 Key numbers" in pages[start + 1]
