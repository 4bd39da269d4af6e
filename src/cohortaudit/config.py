"""Audit configuration: one frozen object that says *how* to audit, never *what* was found.

Configuration and results are different objects (the Evidently pattern): the config is validated
once, here, at the boundary, and the rest of the pipeline trusts it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from typing import Any

from cohortaudit.errors import ConfigError

__all__ = ["AuditConfig", "parse_bins", "parse_reference"]

#: Default minimum cell size for disclosure control (REFERENCE.md, "Disclosure control").
DEFAULT_MIN_CELL = 10
#: Default number of bootstrap replicates (REFERENCE.md, "Subgroups and fairness").
DEFAULT_N_BOOT = 1000
#: Number of score bins used for bootstrap replicates of ranking metrics (see bootstrap.py).
DEFAULT_BOOT_SCORE_BINS = 256
#: The time-to-event options (issue 16); ``to_dict`` leaves them out at their defaults, so a
#: binary audit's JSON stays byte-identical to what it was before they existed.
OUTCOME_FIELDS = ("time", "event", "horizon", "time_unit", "censored_as_event_free")


@dataclass(frozen=True)
class AuditConfig:
    """How to audit a cohort.

    Parameters are keyword-only so that call sites read like a specification.

    label:
        Name of the binary outcome column (values 0/1, or True/False). ``None`` only for a
        time-to-event audit, where ``event`` replaces it.
    sensitive_features:
        Columns whose values define subgroups; every value and every intersection is audited.
    bins:
        Edges for continuous sensitive features, e.g. ``{"age": (18, 40, 65, 80)}``.
    reference:
        Reference group per sensitive feature, e.g. ``{"sex": "F"}``; default the largest group.
    threshold:
        Operating threshold; a patient is predicted positive iff score >= threshold. ``None``
        means "take it from the model card, else 0.5".
    score_column:
        Audit predictions already in the cohort instead of running a model (scores mode).
    n_boot, seed:
        Bootstrap replicates and the seed; the same seed gives byte-identical results.
    min_cell:
        Disclosure-control minimum cell size k.
    confidence:
        Confidence level of every interval.
    safety:
        Run the safety checks (shift and intended use need a model card; robustness needs a
        model). Cheap, so on by default.
    slice_max_order, slice_fdr:
        Weak-slice search: largest combination of attributes searched (1-3) and the
        Benjamini-Hochberg false discovery rate.
    robustness_rows:
        Robustness re-scores the cohort once per perturbation; above this many patients a
        seeded stratified sample of this size is perturbed instead (0 = skip robustness).
    explain, explain_rows:
        Compute SHAP explanations on a stratified sample of ``explain_rows`` patients. Off by
        default in the library (about a minute on 2 cores for 1000 rows of the sample model);
        the CLI turns it on unless ``--no-explain``.
    time, event, horizon, time_unit:
        A time-to-event audit (issue 16): ``event`` names the event column (0/1, 1 = the event,
        0 = censored; it replaces ``label``), ``time`` the follow-up time column, ``horizon``
        the time by which the model predicts the risk, in the unit of ``time``
        (``time_unit``, e.g. "years", is stated in the report and checked against the card's).
        ``horizon`` may be left out when the model card gives ``outcome.horizon``
        (:func:`cohortaudit.intake.outcome.resolve_outcome` fills it in). Conventions: an
        event at the horizon is an event by the horizon; a patient censored exactly at the
        horizon is event-free at the horizon. A *binary* audit may also be given ``time``
        (and a horizon): it then refuses to treat patients without an event whose follow-up
        ends before the horizon as event-free, unless ``censored_as_event_free``.
    censored_as_event_free:
        Binary audits only: the explicit opt-in to audit a 0/1 label although some patients
        without an event were followed for less than the horizon (or the card says the model
        is time-to-event). The result carries a warning caveat that says how many.
    """

    label: str | None = None
    sensitive_features: tuple[str, ...] = ()
    bins: dict[str, tuple[float, ...]] = field(default_factory=dict)
    reference: dict[str, str] = field(default_factory=dict)
    threshold: float | None = None
    score_column: str | None = None
    n_boot: int = DEFAULT_N_BOOT
    seed: int = 20261123
    min_cell: int = DEFAULT_MIN_CELL
    confidence: float = 0.95
    boot_score_bins: int = DEFAULT_BOOT_SCORE_BINS
    max_intersection_order: int = 3
    safety: bool = True
    slice_max_order: int = 2
    slice_fdr: float = 0.05
    robustness_rows: int = 20_000
    explain: bool = False
    explain_rows: int = 1000
    user_metrics: tuple[Any, ...] = ()
    time: str | None = None
    event: str | None = None
    horizon: float | None = None
    time_unit: str | None = None
    censored_as_event_free: bool = False

    def __post_init__(self) -> None:
        self._check_outcome()
        object.__setattr__(self, "sensitive_features", tuple(self.sensitive_features))
        if len(set(self.sensitive_features)) != len(self.sensitive_features):
            raise ConfigError(
                "The 'sensitive_features' parameter lists a column twice: "
                f"{list(self.sensitive_features)}. Name each column once."
            )
        if self.label in self.sensitive_features:
            raise ConfigError(
                f"The label column '{self.label}' cannot also be a sensitive feature."
            )
        for role in ("event", "time"):
            column = getattr(self, role)
            if column is not None and column in self.sensitive_features:
                raise ConfigError(
                    f"The {role} column '{column}' cannot also be a sensitive feature."
                )
        if self.score_column is not None and self.score_column == self.label:
            raise ConfigError("The score column and the label column must be different columns.")
        if self.threshold is not None:
            t = self.threshold
            if not isinstance(t, (int, float)) or isinstance(t, bool) or not (0 < float(t) < 1):
                raise ConfigError(
                    f"The 'threshold' parameter must be a float in (0, 1). Got {t!r} instead."
                )
            object.__setattr__(self, "threshold", float(t))
        _check_int("n_boot", self.n_boot, low=0, high=100_000)
        _check_int("min_cell", self.min_cell, low=0, high=10_000)
        _check_int("seed", self.seed, low=0, high=2**63 - 1)
        _check_int("boot_score_bins", self.boot_score_bins, low=16, high=1_000_000)
        _check_int("max_intersection_order", self.max_intersection_order, low=1, high=5)
        _check_int("slice_max_order", self.slice_max_order, low=1, high=3)
        _check_int("robustness_rows", self.robustness_rows, low=0, high=10_000_000)
        _check_int("explain_rows", self.explain_rows, low=10, high=1_000_000)
        for name in ("safety", "explain"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"The '{name}' parameter must be True or False. "
                    f"Got {getattr(self, name)!r} instead."
                )
        fdr = self.slice_fdr
        if isinstance(fdr, bool) or not isinstance(fdr, int | float) or not (0 < fdr < 1):
            raise ConfigError(
                f"The 'slice_fdr' parameter must be a float in (0, 1). Got {fdr!r} instead."
            )
        object.__setattr__(self, "slice_fdr", float(fdr))
        if not (0.5 < float(self.confidence) < 1):
            raise ConfigError(
                "The 'confidence' parameter must be a float in (0.5, 1). "
                f"Got {self.confidence!r} instead."
            )
        clean_bins: dict[str, tuple[float, ...]] = {}
        for col, edges in dict(self.bins).items():
            if col not in self.sensitive_features:
                raise ConfigError(
                    f"Bins were given for '{col}', which is not a sensitive feature. "
                    f"Add it with --sensitive {col} or drop its bins."
                )
            clean_bins[col] = _check_edges(col, edges)
        object.__setattr__(self, "bins", dict(sorted(clean_bins.items())))
        for col, value in dict(self.reference).items():
            if col not in self.sensitive_features:
                raise ConfigError(
                    f"A reference group was given for '{col}', which is not a sensitive feature. "
                    f"Sensitive features: {list(self.sensitive_features)}."
                )
            if not isinstance(value, str):
                raise ConfigError(
                    f"The reference group for '{col}' must be given as text. "
                    f"Got {type(value).__name__} instead."
                )
        object.__setattr__(self, "reference", dict(sorted(self.reference.items())))
        if self.user_metrics:  # imports nothing (and runs no user code) when there are none
            from cohortaudit.metrics.user import check_user_metrics

            if isinstance(self.user_metrics, str) or callable(self.user_metrics):
                raise ConfigError(
                    "The 'user_metrics' parameter must be a list of metrics. "
                    f"Got one {type(self.user_metrics).__name__}; wrap it in a list."
                )
            object.__setattr__(self, "user_metrics", check_user_metrics(self.user_metrics))
        else:
            object.__setattr__(self, "user_metrics", ())

    def _check_outcome(self) -> None:
        """The outcome options: a binary ``label`` xor a time-to-event ``event`` (with ``time``),
        a finite positive ``horizon``, and no column in two roles.

        A ``time`` without a ``horizon`` is allowed here because the model card may give the
        horizon; :func:`~cohortaudit.intake.outcome.resolve_outcome` refuses it if nothing does.
        """
        for name in ("label", "event", "time", "time_unit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(
                    f"The '{name}' parameter must be a non-empty text (a column name"
                    f"{'' if name != 'time_unit' else ' or a unit such as years'}). "
                    f"Got {value!r} instead."
                )
        if self.event is not None and self.label is not None:
            raise ConfigError(
                f"Both a label column ('{self.label}') and an event column ('{self.event}') were "
                "given. A binary audit takes --label; a time-to-event audit takes --event with "
                "--time and --horizon, and the event column replaces the label. Drop one of them."
            )
        if self.label is None and self.event is None:
            raise ConfigError(
                "The 'label' parameter must be a non-empty column name. Got None instead. Pass "
                "--label COLUMN for a binary outcome, or --event COLUMN --time COLUMN --horizon "
                "T for a time-to-event outcome."
            )
        if self.event is not None and self.time is None:
            raise ConfigError(
                f"The event column '{self.event}' needs the follow-up time column: a "
                "time-to-event audit cannot tell an early censoring from an event-free patient "
                "without it. Pass --time COLUMN (and --horizon T)."
            )
        if self.horizon is not None:
            h = self.horizon
            if isinstance(h, bool) or not isinstance(h, int | float) or not (
                math.isfinite(float(h)) and float(h) > 0
            ):
                raise ConfigError(
                    "The 'horizon' parameter must be a positive finite number in the unit of "
                    f"the follow-up time. Got {h!r} instead."
                )
            object.__setattr__(self, "horizon", float(h))
        for name in ("horizon", "time_unit"):
            if getattr(self, name) is not None and self.time is None:
                raise ConfigError(
                    f"The '{name}' parameter applies to a follow-up time column, and none was "
                    "given. Pass --time COLUMN too, or drop --"
                    + name.replace("_", "-")
                    + "."
                )
        if not isinstance(self.censored_as_event_free, bool):
            raise ConfigError(
                "The 'censored_as_event_free' parameter must be True or False. "
                f"Got {self.censored_as_event_free!r} instead."
            )
        if self.censored_as_event_free and self.event is not None:
            raise ConfigError(
                "--censored-as-event-free applies to binary audits (--label) only: a "
                "time-to-event audit (--event) takes censoring into account. Drop the flag."
            )
        roles = {
            "label": self.label,
            "event": self.event,
            "time": self.time,
            "score": self.score_column,
        }
        named = [(role, col) for role, col in roles.items() if col is not None]
        for i, (role, col) in enumerate(named):
            for other, col2 in named[i + 1 :]:
                if col == col2 and {role, other} != {"label", "score"}:
                    raise ConfigError(
                        f"The {role} column and the {other} column must be different columns; "
                        f"both are '{col}'."
                    )

    @property
    def outcome_kind(self) -> str:
        """``"time_to_event"`` when an event column is given, else ``"binary"``."""
        return "time_to_event" if self.event is not None else "binary"

    @property
    def outcome_column(self) -> str:
        """The column of the 0/1 outcome: the event column, else the label column."""
        return self.event if self.event is not None else self.label  # type: ignore[return-value]

    @property
    def z(self) -> float:
        """The two-sided normal quantile of the confidence level (1.959964 for 95%)."""
        from statistics import NormalDist  # stdlib: importing scipy.stats costs ~2 s

        return NormalDist().inv_cdf(0.5 + self.confidence / 2)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``user_metrics`` appears (as key, source, kind) only when given,
        and the time-to-event options (:data:`OUTCOME_FIELDS`) only when they differ from
        their defaults, so a binary audit records exactly what it always recorded."""
        d = {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if f.name != "user_metrics"
            and not (f.name in OUTCOME_FIELDS and getattr(self, f.name) == f.default)
        }
        d["sensitive_features"] = list(self.sensitive_features)
        d["bins"] = {k: list(v) for k, v in self.bins.items()}
        if self.user_metrics:
            d["user_metrics"] = [m.to_dict() for m in self.user_metrics]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditConfig:
        """The config :meth:`to_dict` gave (``from_dict(c.to_dict()) == c``), validated again.

        User metrics are code, so a dict (e.g. from a stored result) cannot bring them back:
        pass them again with ``user_metrics=``.
        """
        if d.get("user_metrics"):
            raise ConfigError(
                "A stored configuration with user metrics cannot be rebuilt: they are code, "
                "which a configuration read back from a file must not import. Pass them again "
                "as user_metrics=[...]."
            )
        known = {f.name for f in fields(cls)} - {"user_metrics"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"The configuration has unknown key(s) {unknown}; expected only {sorted(known)}."
            )
        kwargs = {k: v for k, v in d.items() if k != "user_metrics"}
        if "bins" in kwargs:
            kwargs["bins"] = {k: tuple(v) for k, v in dict(kwargs["bins"]).items()}
        if "sensitive_features" in kwargs:
            kwargs["sensitive_features"] = tuple(kwargs["sensitive_features"])
        if "label" not in kwargs:
            kwargs["label"] = None
        return cls(**kwargs)


def _check_int(name: str, value: Any, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        raise ConfigError(
            f"The '{name}' parameter must be an integer in [{low}, {high}]. Got {value!r} instead."
        )


def _check_edges(col: str, edges: Any) -> tuple[float, ...]:
    try:
        values = tuple(float(e) for e in edges)
    except (TypeError, ValueError):
        raise ConfigError(
            f"The bin edges for '{col}' must be numbers, e.g. --bins {col}=18,40,65,80."
        ) from None
    if len(values) < 2:
        raise ConfigError(
            f"The bin edges for '{col}' need at least two numbers. Got {len(values)}."
        )
    if any(not math.isfinite(v) for v in values) or any(
        b <= a for a, b in zip(values, values[1:], strict=False)
    ):
        raise ConfigError(
            f"The bin edges for '{col}' must be finite and strictly increasing, "
            f"e.g. --bins {col}=18,40,65,80."
        )
    return values


def parse_bins(specs: list[str] | None) -> dict[str, tuple[float, ...]]:
    """Parse CLI bin specs like ``["age=18,40,65,80"]`` into a dict of edges."""
    out: dict[str, tuple[float, ...]] = {}
    for spec in specs or []:
        col, sep, rest = spec.partition("=")
        if not sep or not col.strip() or not rest.strip():
            raise ConfigError(
                f"The --bins value '{spec}' is not of the form COLUMN=E1,E2,...; "
                "for example --bins age=18,40,65,80."
            )
        out[col.strip()] = _check_edges(col.strip(), rest.split(","))
    return out


def parse_reference(specs: list[str] | None) -> dict[str, str]:
    """Parse CLI reference specs like ``["sex=F"]`` into a dict."""
    out: dict[str, str] = {}
    for spec in specs or []:
        col, sep, value = spec.partition("=")
        if not sep or not col.strip() or not value.strip():
            raise ConfigError(
                f"The --reference value '{spec}' is not of the form COLUMN=VALUE; "
                "for example --reference sex=F."
            )
        out[col.strip()] = value.strip()
    return out
