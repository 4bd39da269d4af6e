"""Audit a partitioned Parquet dataset on Dask: workers validate and score, the driver audits.

``cohortaudit audit --engine dask --cohort DATASET/ [--scheduler ADDRESS]``. The work is split
where it is heavy and reduced where it is light:

1. The driver loads the card and model and runs the card's test vectors (as every audit does),
   checks the dataset's header once, and builds a picklable reduction spec.
2. ``dask.dataframe.read_parquet`` reads only the needed columns; each partition goes to
   :func:`reduce_partition` on a worker, which validates it with the one validator
   (:func:`cohortaudit.intake.validate.reduce_chunk`), scores it with onnxruntime (one session per worker process,
   cached), and returns the compact arrays (score, outcome, group codes), the counts the
   caveats need and its sample candidates -- never the feature rows.
3. The driver concatenates the partitions in dataset order and runs the same engine as every
   other audit (:func:`cohortaudit.engines.stream.audit_streamed`), so the bootstrap never builds an
   n x B matrix here either.

Scheduler (``scheduler=``/``--scheduler``): omitted, the local threaded scheduler (no cluster
to start, no data copied between processes; ORT releases the GIL while it scores); ``"local"``
starts a ``distributed.LocalCluster`` (one single-threaded worker process per core) for this
run; any other value is the address of a running ``dask.distributed`` scheduler, e.g.
``tcp://10.0.0.5:8786``. Workers must be able to read the dataset and the model file at the
same paths as the driver (a shared file system), and have cohortaudit installed.

Equality with the local engine: the ONNX sessions on the workers use the same number of
intra-op threads as :func:`cohortaudit.intake.model.load_model` (onnxruntime's tree ensembles split the
trees between those threads and add the partial sums, so the thread count changes scores in the
last float32 bit), with spinning off so that idle threads do not burn the cores the other
workers need. Batches of fewer than :data:`MIN_SCORE_BATCH` rows (a small partition) are padded
by repetition to that size, because onnxruntime takes another summation path for tiny batches.
So scores do not depend on the partitioning, and the audit equals the local one byte for byte
apart from the ``run`` block and the cohort's identity (``cohort.file`` is the dataset folder
and ``cohort.sha256`` the SHA-256 of the ``sha256sum``-style listing of its files). The one
exception: the in-memory path scores in batches of 250,000 rows, and when its last batch has
fewer than ~50 rows those rows can differ in the last float32 bit from the Dask scores. The
feature sample (safety checks, explanations) is keyed by (partition, row), so it depends on the
partitioning; the metrics do not.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.config import AuditConfig
from cohortaudit.engines.stream import ProgressCallback, StreamedCohort, audit_streamed
from cohortaudit.errors import ConfigError, InputError, ModelLoadError, SchemaError
from cohortaudit.intake.card import ModelCard
from cohortaudit.intake.files import sha256_file
from cohortaudit.intake.inputs import load_inputs
from cohortaudit.intake.model import load_model
from cohortaudit.intake.sample import DEFAULT_SAMPLE_ROWS
from cohortaudit.intake.tables import PARQUET_SUFFIXES, read_header
from cohortaudit.intake.validate import (
    ChunkStats,
    CohortAccumulator,
    ValidationSpec,
    check_header,
    make_spec,
    reduce_chunk,
)
from cohortaudit.modelspec import LoadedModel
from cohortaudit.results import AuditResult
from cohortaudit.scoring import DEFAULT_BATCH_SIZE, score

__all__ = [
    "MIN_SCORE_BATCH",
    "ModelRef",
    "audit_dask",
    "require_dask",
    "dataset_files",
    "dataset_sha256",
    "reduce_partition",
    "stream_dask",
]

#: Smaller batches are padded to this many rows before scoring (see the module docstring).
MIN_SCORE_BATCH = 128
#: Seconds to wait for a ``--scheduler`` to connect and answer its handshake
#: (``COHORTAUDIT_SCHEDULER_TIMEOUT`` overrides it).
SCHEDULER_TIMEOUT = 10.0
#: A Dask scheduler's first message (its handshake) is a few hundred bytes; a "length" above
#: this is a server speaking another protocol, and is never allocated.
_MAX_HANDSHAKE_BYTES = 1 << 20


# --------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------


def _natural_key(rel: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", rel)]


def dataset_files(path: str | Path) -> list[Path]:
    """The Parquet files of a dataset, in natural order (``part.2`` before ``part.10``).

    A file is a dataset of one file. Files and folders whose names start with ``.`` or ``_``
    (``_metadata``, ``_SUCCESS``, hidden files) are skipped, as Spark and Dask do.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Cohort dataset not found: '{path}'. Check the path and try again.")
    if path.is_file():
        if not path.name.lower().endswith(PARQUET_SUFFIXES):
            raise InputError(
                f"--engine dask reads Parquet, but '{path.name}' is not a .parquet file. Convert "
                "the cohort to Parquet (one file or a folder of files), or drop --engine dask "
                "and use --chunk-rows to stream a CSV file."
            )
        return [path]
    files = [
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(PARQUET_SUFFIXES)
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    ]
    if not files:
        raise InputError(
            f"The cohort folder '{path.name}' holds no .parquet files. Point --cohort at a "
            "Parquet file or at a folder of Parquet files (a partitioned dataset)."
        )
    return sorted(files, key=lambda p: _natural_key(p.relative_to(path).as_posix()))


def dataset_sha256(path: str | Path, files: Sequence[Path]) -> str:
    """SHA-256 of one file, or of the ``sha256sum``-style listing of a dataset's files.

    For a folder: the SHA-256 of the text ``"<sha256>  <relative/posix/path>\\n"`` per file, in
    the dataset's order -- what ``sha256sum`` prints, so a reader can recompute it.
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    listing = "".join(f"{sha256_file(f)}  {f.relative_to(path).as_posix()}\n" for f in files)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _dataset_header(files: Sequence[Path], root: Path) -> tuple[list[str], list[str]]:
    """Stripped and raw column names, the same in every file."""
    import pyarrow.parquet as pq

    header = read_header(files[0])
    raw = list(pq.read_schema(files[0]).names)
    for f in files[1:]:
        other = read_header(f)
        if other != header:
            raise SchemaError(
                f"The files of the dataset '{root.name}' do not have the same columns: "
                f"'{f.relative_to(root).as_posix()}' has {len(other)} columns, "
                f"'{files[0].relative_to(root).as_posix()}' has {len(header)}, or their names "
                "or order differ. Write every part with the same schema."
            )
    return header, raw


# --------------------------------------------------------------------------------------------
# worker side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """How a worker finds and checks the model (the loaded session itself is not picklable)."""

    path: str
    sha256: str
    card: Any
    trusted_types: tuple[str, ...]
    intra_op_threads: int


_MODELS: dict[tuple[str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


def _worker_model(ref: ModelRef) -> LoadedModel:
    """The model for this worker process, loaded and checked once, then cached."""
    key = (ref.path, ref.sha256, ref.intra_op_threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = load_model(ref.path, card=ref.card, trusted_types=ref.trusted_types)
            if model.sha256 != ref.sha256:
                raise ModelLoadError(
                    f"The model file '{Path(ref.path).name}' that a Dask worker reads differs "
                    "from the one the audit checked (SHA-256 mismatch). Give the workers the "
                    "same file at the same path (a shared file system)."
                )
            if model.kind == "onnx":
                model = replace(model, runner=_session(ref.path, ref.intra_op_threads))
            _MODELS[key] = model
    return model


def _session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.use_deterministic_compute = True
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def _score_padded(model: LoadedModel, features: pd.DataFrame) -> np.ndarray:
    """Scores in the local engine's batch size; tiny batches padded by repetition."""
    n = len(features)
    batch = DEFAULT_BATCH_SIZE
    parts = []
    for start in range(0, n, batch):
        block = features.iloc[start : start + batch]
        m = len(block)
        if m < MIN_SCORE_BATCH:
            padded = pd.concat([block] * math.ceil(MIN_SCORE_BATCH / m), ignore_index=True)
            parts.append(score(model, padded)[:m])
        else:
            parts.append(score(model, block))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def reduce_partition(
    frame: pd.DataFrame,
    spec: ValidationSpec,
    index: int,
    columns: list[str],
    ref: ModelRef | None,
) -> ChunkStats:
    """Validate, score and reduce one partition (runs on a Dask worker).

    Lives in an importable module on purpose: Dask ships functions by reference, and one
    defined in a script cannot be found by the workers.
    """
    frame = frame.reset_index(drop=True)
    frame.columns = columns
    try:
        stats = reduce_chunk(frame, spec, key_offset=index << 40)
    except SchemaError as exc:
        raise SchemaError(
            f"{exc} (Found in partition {index + 1} of the dataset; the counts above are for "
            "that partition.)"
        ) from None
    if stats.features is not None and ref is not None:
        stats.y_score = _score_padded(_worker_model(ref), stats.features)
        stats.features = None
    return stats


# --------------------------------------------------------------------------------------------
# driver side
# --------------------------------------------------------------------------------------------


def _scheduler_timeout() -> float:
    raw = os.environ.get("COHORTAUDIT_SCHEDULER_TIMEOUT")
    if raw is None:
        return SCHEDULER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(
            "COHORTAUDIT_SCHEDULER_TIMEOUT must be a number of seconds above 0. Got "
            f"{raw!r} instead."
        )
    return value


def _not_a_scheduler(scheduler: str, why: str) -> ConfigError:
    return ConfigError(
        f"Could not connect to the Dask scheduler at '{scheduler}': {why}. Check the address "
        "(e.g. tcp://host:8786) and that a dask.distributed scheduler is running there, or "
        "leave out --scheduler to use this machine."
    )


def _probe_scheduler(scheduler: str, timeout: float) -> None:
    """Check that a ``tcp://`` address answers like a Dask scheduler, before distributed does.

    A scheduler sends its handshake as soon as a connection is accepted: an 8-byte length, then
    a small msgpack message (a dict of comm settings). distributed itself waits without end for
    a silent or stalling server, and allocates whatever length a garbage answer spells
    (``0xff...`` is 16 EiB), so the handshake is read here first -- at most 1 MiB, within
    ``timeout`` seconds overall -- and anything else is refused with nothing allocated.
    """
    import socket
    import struct

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(scheduler, strict=False)
        if scheme != "tcp":  # tls:// and others: the handshake is inside the transport
            return
        host, port = parse_host_port(location)
    except (ValueError, TypeError):
        raise _not_a_scheduler(scheduler, "the address is not host:port") from None
    deadline = time.monotonic() + timeout

    def read(sock: socket.socket, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(min(n - len(data), 65536))
            if not chunk:
                raise _not_a_scheduler(scheduler, "the server closed the connection")
            data += chunk
        return bytes(data)

    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            (length,) = struct.unpack("<Q", read(sock, 8))
            if not 0 < length <= _MAX_HANDSHAKE_BYTES:
                raise _not_a_scheduler(
                    scheduler,
                    "the server does not speak the Dask protocol (its first message is not "
                    "a Dask handshake)",
                )
            payload = read(sock, length)
    except TimeoutError:
        raise _not_a_scheduler(
            scheduler, f"no Dask handshake within {timeout:g} s (is it a Dask scheduler?)"
        ) from None
    except OSError as exc:
        raise _not_a_scheduler(scheduler, exc.strerror or type(exc).__name__) from None
    if not isinstance(_decode_handshake(payload), dict):
        raise _not_a_scheduler(
            scheduler,
            "the server does not speak the Dask protocol (its first message is not a Dask "
            "handshake)",
        )


def _decode_handshake(payload: bytes) -> Any:
    """The handshake message in ``payload`` (bounded bytes), or None if it is not one."""
    from distributed.protocol.core import loads
    from distributed.protocol.utils import unpack_frames

    try:
        frames, missing = unpack_frames(payload, partial=True)
        if missing:  # a handshake fits in one message; more frames is something else
            return None
        return loads(frames, deserialize=False)
    except Exception:  # noqa: BLE001 - any decoding failure means "not a handshake"
        return None


def _client(
    scheduler: str | None, *, timeout: float | None = None
) -> tuple[Any, Callable[[], None]]:
    """A distributed client for ``scheduler`` (None: no client, the threaded scheduler).

    An address must answer like a Dask scheduler within ``timeout`` seconds (default
    :data:`SCHEDULER_TIMEOUT`, or ``COHORTAUDIT_SCHEDULER_TIMEOUT``), else ConfigError.
    """
    if scheduler is None:
        return None, lambda: None
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    import dask

    timeout = _scheduler_timeout() if timeout is None else timeout
    _probe_scheduler(scheduler, timeout)
    seconds = f"{timeout:g}s"
    try:
        # connect and handshake bounded too (a server can pass the probe and then stall);
        # not 'distributed.comm.timeouts.tcp': distributed refuses values below its keep-alive
        with dask.config.set({"distributed.comm.timeouts.connect": seconds}):
            client = Client(scheduler, timeout=seconds)
    except TimeoutError:
        raise _not_a_scheduler(scheduler, f"no Dask handshake within {timeout:g} s") from None
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the address's fault
        raise _not_a_scheduler(
            scheduler, f"its answer is not a Dask handshake ({type(exc).__name__})"
        ) from None
    return client, client.close


def stream_dask(
    dataset: str | Path,
    *,
    config: AuditConfig,
    model: LoadedModel | None = None,
    card: ModelCard | None = None,
    trusted_types: Sequence[str] = (),
    scheduler: str | None = None,
    client: Any = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    progress: ProgressCallback | None = None,
) -> StreamedCohort:
    """Reduce a Parquet dataset on Dask to a compact cohort (see the module docstring).

    ``client`` (a ``distributed.Client``) takes precedence over ``scheduler``.
    """
    import dask
    import dask.dataframe as dd

    spec = make_spec(config, model, card, sample_rows=sample_rows)
    root = Path(dataset)
    files = dataset_files(root)
    header, raw = _dataset_header(files, root)
    check_header(header, spec)
    used = [c for c in spec.used_columns if c in header]
    raw_used = [raw[header.index(c)] for c in used]
    ref = None
    if model is not None:
        threads = 1
        if model.kind == "onnx":
            threads = int(model.runner.get_session_options().intra_op_num_threads or 1)
        ref = ModelRef(
            str(Path(model.path).resolve()), model.sha256, card, tuple(trusted_types), threads
        )
    report = progress or (lambda stage, frac: None)

    ddf = dd.read_parquet([str(f) for f in files], columns=raw_used, index=False)
    parts = ddf.to_delayed()
    task = dask.delayed(reduce_partition, pure=True)
    tasks = [task(part, spec, i, used, ref) for i, part in enumerate(parts)]
    own_client, close = (client, lambda: None) if client is not None else _client(scheduler)
    results: list[ChunkStats | None] = [None] * len(tasks)
    try:
        if own_client is None:
            with warnings.catch_warnings():
                # dask 2026.8's Parquet reader calls reset_index(inplace=True), which pandas 3.1
                # deprecates; not ours to fix, and not for the person at the keyboard to see
                warnings.filterwarnings("ignore", message="The inplace keyword")
                computed = dask.compute(
                    *tasks, scheduler="threads", num_workers=os.cpu_count() or 1
                )
            results = list(computed)
        else:
            from distributed import as_completed

            futures = own_client.compute(tasks)
            position = {f.key: i for i, f in enumerate(futures)}
            finished = as_completed(futures, with_results=True)
            for done, (future, stats) in enumerate(finished, start=1):
                results[position[future.key]] = stats
                report("reading", done / len(futures))
    finally:
        close()
    acc = CohortAccumulator(spec, header=header)
    for stats in results:
        acc.add(stats)  # in dataset order
    report("reading", 1.0)
    if acc.n_input == 0:
        raise SchemaError(
            f"The cohort dataset '{root.name}' has {len(header)} columns but no rows. "
            "Expected one row per patient."
        )
    cohort, sample = acc.finish()
    return StreamedCohort(
        cohort=cohort,
        sample=sample,
        sha256=dataset_sha256(root, files),
        file=root.name,
        n_chunks=len(tasks),
        chunk_rows=None,
        engine="dask",
        scheduler="threads"
        if client is None and scheduler is None
        else ("client" if client is not None else scheduler),
    )


def require_dask() -> None:
    """The Dask engine needs the optional ``dask`` extra: say how to get it instead of a
    ModuleNotFoundError (the CLI and Python callers get the same message)."""
    from importlib.util import find_spec

    missing = [m for m in ("dask", "distributed") if find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"--engine dask needs {' and '.join(missing)}, which this environment lacks. "
            "Install the extra: pip install 'cohortaudit[dask]' (./dev.sh installs it), or "
            "leave out --engine dask to stream the cohort in this process (--chunk-rows)."
        )


def audit_dask(
    *,
    dataset: str | Path,
    config: AuditConfig,
    model_path: str | Path | None = None,
    card_path: str | Path | None = None,
    trusted_types: Sequence[str] = (),
    scheduler: str | None = None,
    client: Any = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    progress: ProgressCallback | None = None,
    policy_path: str | Path | None = None,
) -> AuditResult:
    """Audit a Parquet file or partitioned dataset on Dask (``cohortaudit audit --engine dask``).

    Loads the policy, card and model on the driver with
    :func:`~cohortaudit.intake.inputs.load_inputs`, as every engine does, reduces the partitions on the workers
    (:func:`stream_dask`) and audits the compact cohort locally.
    """
    # time-to-event: the workers reduce time and event with the rest (the one validator)
    require_dask()
    started = time.perf_counter()
    inputs = load_inputs(
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        policy_path=policy_path,
        read_cohort=lambda model, card: stream_dask(
            dataset,
            config=config,
            model=model,
            card=card,
            trusted_types=trusted_types,
            scheduler=scheduler,
            client=client,
            sample_rows=sample_rows,
            progress=progress,
        ),
    )
    return audit_streamed(
        inputs.read,
        inputs.model,
        inputs.config or config,
        card=inputs.card,
        test_vectors=inputs.test_vectors,
        progress=progress,
        policy=inputs.policy,
        started=started,
    )
