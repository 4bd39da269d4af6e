"""No withheld count can be rebuilt by subtraction (issue 14, point 3).

Every table that leaves the secure environment is a partition for disclosure rule 3: a group's
count withheld as "fewer than k" must not come back as ``parent - sum(released siblings)``.
These tests run the real CLI -- on the bundled sample, and on a small crafted cohort that has
groups of 1 to k-1 patients (three patients over 80, two under 40) -- and then look for
families of counts *structurally*, without knowing which block produced them:

* in audit.json, every list of rows that carry a group (``attributes``, ``group`` or
  ``attribute``/``group``) and integer counts: rows that share all attributes but one are
  siblings, the row without that attribute (or the whole cohort) is their parent, and every
  integer field (nested ones included: ``confusion.tp``, ``out_of_range.age``,
  ``risk_histogram.events[3]``) is one family;
* bin counts with a total: a histogram's events and non-events against the group's events and
  non-events, calibration bins against the group's n and events, SHAP distribution and
  dependence bins against the number of explained patients;
* the weak-slice groups: a group's patients (the union of its members) against each member's
  n and the cohort's n (:func:`slice_group_leaks`);
* in the HTML report, every table with a group column and count columns;
* in the CSV tables, the rows of ``metrics_by_group.csv``;
* in the caveats, numbers next to "patients", "rows", "below" or "above".

For each family every released count and every ``parent - sum(released children)`` must be 0
or at least k. Nothing else is assumed, so a new table that leaks fails here too.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cohortaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
K = 10

#: Fields that hold integers which are not counts of patients.
NOT_COUNTS = {
    "hosmer_lemeshow_groups",
    "seed",
    "groups_compared",
    "min_cell",
    "level",
    "knots",
    "n_knots",
    "n_columns",
}
#: Scalar fields that tell apart rows of one table that are not siblings of each other.
CONTEXT = ("feature", "statistic", "metric", "perturbation", "level", "kind")
_ATTR_KEYS = ("attributes", "group")


def _audit(tmp: Path, cohort: Path, *extra: str) -> Path:
    out = tmp / "out"
    args = [
        "audit",
        "--model",
        str(SAMPLE / "model.onnx"),
        "--card",
        str(SAMPLE / "model.card.yaml"),
        "--cohort",
        str(cohort),
        "--label",
        "cvd_10y",
        "--sensitive",
        "sex",
        "age",
        "ethnicity",
        "site",
        "--bins",
        "age=40,50,60,70,80",
        "--max-order",
        "2",
        "--n-boot",
        "10",
        "--min-cell",
        str(K),
        "--format",
        "json,html,csv",
        "--out",
        str(out),
        *extra,
    ]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory) -> Path:
    return _audit(tmp_path_factory.mktemp("sample"), SAMPLE / "cohort.csv", "--explain-rows", "200")


@pytest.fixture(scope="module")
def crafted_out(tmp_path_factory) -> Path:
    """600 sample patients, three of them over 80 and two under 40; a handful missing bmi."""
    tmp = tmp_path_factory.mktemp("crafted")
    frame = pd.read_csv(SAMPLE / "cohort.csv")
    frame = frame[(frame["age"] >= 41) & (frame["age"] <= 79)].head(600).copy()
    frame.iloc[0:3, frame.columns.get_loc("age")] = [82.0, 85.5, 90.0]
    frame.iloc[3:5, frame.columns.get_loc("age")] = [35.0, 38.2]
    frame.iloc[5:8, frame.columns.get_loc("bmi")] = float("nan")
    path = tmp / "crafted.csv"
    frame.to_csv(path, index=False)
    return _audit(tmp, path, "--explain-rows", "120")


@pytest.fixture(scope="module")
def pooled_out(tmp_path_factory) -> Path:
    """The pooled audit of the sample's four site files (README, 'Multi-site audit')."""
    out = tmp_path_factory.mktemp("pooled") / "out"
    sites = sorted(str(f) for f in (SAMPLE / "sites").glob("*.json"))
    assert len(sites) == 4
    assert main(["pool", *sites, "--format", "json,html", "--out", str(out)]) == 0
    return out


# ------------------------------------------------------------------------------------------
# finding families in audit.json
# ------------------------------------------------------------------------------------------


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _flatten(row: Any, prefix: str = "") -> dict[str, int | None]:
    """Integer fields of a row by path (None where a count is withheld)."""
    out: dict[str, int | None] = {}
    if isinstance(row, dict):
        for key, v in row.items():
            if key in NOT_COUNTS or key in _ATTR_KEYS or key in CONTEXT:
                continue
            out.update(_flatten(v, f"{prefix}{key}."))
    elif isinstance(row, list):
        if any(_is_count(v) for v in row):
            for i, v in enumerate(row):
                if v is None or _is_count(v):
                    out[f"{prefix[:-1]}[{i}]"] = v
        else:
            for i, v in enumerate(row):
                if isinstance(v, dict):
                    out.update(_flatten(v, f"{prefix[:-1]}[{i}]."))
    elif (_is_count(row) or row is None) and prefix:
        out[prefix[:-1]] = row
    return out


def _group_of(row: dict[str, Any]) -> dict[str, str] | None:
    for key in _ATTR_KEYS:
        if isinstance(row.get(key), dict):
            return {str(a): str(v) for a, v in row[key].items()}
    if isinstance(row.get("attribute"), str) and isinstance(row.get("group"), str):
        return {row["attribute"]: row["group"]}
    return None


def _with_derived(flat: dict[str, int | None]) -> dict[str, int | None]:
    """Add non-events (n - events): released n and events give it away."""
    out = dict(flat)
    if "n" in flat and "events" in flat:
        n, e = flat["n"], flat["events"]
        out["non_events"] = None if n is None or e is None else n - e
    return out


def _row_tables(doc: Any, path: str = "$"):
    """Every list of group rows in the document, with its path."""
    if isinstance(doc, dict):
        for key, v in doc.items():
            yield from _row_tables(v, f"{path}.{key}")
    elif isinstance(doc, list):
        rows = [r for r in doc if isinstance(r, dict) and _group_of(r) is not None]
        if rows and len(rows) == len(doc):
            yield path, rows
        for i, v in enumerate(doc):
            if isinstance(v, (dict, list)):
                yield from _row_tables(v, f"{path}[{i}]")


def _families(rows: list[dict[str, Any]], parent_row: dict[str, Any] | None = None):
    """(where, parent counts, [children counts]) for rows sharing all attributes but one."""
    by_context: dict[tuple, dict[tuple, dict[str, int | None]]] = defaultdict(dict)
    for r in rows:
        ctx = tuple(str(r.get(c)) for c in CONTEXT)
        key = tuple(sorted(_group_of(r).items()))
        by_context[ctx][key] = _with_derived(_flatten(r))
    for ctx, table in by_context.items():
        if parent_row is not None and () not in table:
            table[()] = _with_derived(_flatten(parent_row))
        sets: dict[tuple, list[dict[str, int | None]]] = defaultdict(list)
        for key, counts in table.items():
            for drop in range(len(key)):
                rest = key[:drop] + key[drop + 1 :]
                sets[(rest, key[drop][0], tuple(a for a, _ in rest))].append(counts)
        for (rest, attr, _), children in sets.items():
            if rest in table:
                yield f"{ctx} {dict(rest)} by {attr}", table[rest], children


def _leaks_in_family(where: str, parent: dict, children: list[dict], k: int) -> list[str]:
    out = []
    for field, total in parent.items():
        if not _is_count(total):
            continue
        values = [c.get(field) for c in children if field in c]
        if not values:
            continue
        released = sum(v for v in values if v is not None)
        gap = total - released
        if 0 < gap < k:
            out.append(f"{where} {field}: parent {total} - released children = {gap}")
    return out


def _released_small(where: str, counts: dict, k: int) -> list[str]:
    return [f"{where} {field} = {v}" for field, v in counts.items() if _is_count(v) and 0 < v < k]


def _bin_families(doc: dict[str, Any]):
    """(where, total, [bin counts]) for every list of bin counts whose total is released."""
    groups = [doc["overall"], *doc["subgroups"]]
    for g in groups:
        label = g["attributes"] or "overall"
        if g.get("n") is None or g.get("events") is None:
            continue
        totals = {"events": g["events"], "non_events": g["n"] - g["events"], "n": g["n"]}
        hist = g.get("risk_histogram") or {}
        for col in ("events", "non_events"):
            if col in hist:
                yield f"{label} risk_histogram.{col}", totals[col], hist[col]
        table = g.get("calibration_table") or []
        for col in ("n", "events"):
            if table:
                yield f"{label} calibration_table.{col}", totals[col], [b.get(col) for b in table]
    ex = doc.get("explanations") or {}
    n_explain = (ex.get("settings") or {}).get("n_explain")
    if n_explain is not None:
        for feature, counts in ((ex.get("distribution") or {}).get("counts") or {}).items():
            yield f"SHAP distribution {feature}", n_explain, counts
        for feature, dep in (ex.get("dependence") or {}).items():
            yield f"SHAP dependence {feature}", n_explain, [b.get("n") for b in dep["bins"]]


def json_leaks(doc: dict[str, Any], k: int) -> list[str]:
    leaks: list[str] = []
    for path, rows in _row_tables(doc):
        parent = None
        if path == "$.subgroups":
            parent = doc["overall"]
        if path == "$.explanations.by_group":
            parent = {"group": {}, "n": doc["explanations"]["settings"]["n_explain"]}
        for r in rows:
            leaks += _released_small(f"{path} {_group_of(r)}", _with_derived(_flatten(r)), k)
            flat = _flatten(r)
            n = flat.get("n")
            if _is_count(n):  # the complement of a count within its own row
                for field, v in flat.items():
                    if field != "n" and _is_count(v) and "[" not in field and 0 < n - v < k:
                        leaks.append(f"{path} {_group_of(r)} n - {field} = {n - v}")
        for where, p, children in _families(rows, parent):
            leaks += _leaks_in_family(f"{path} {where}", p, children, k)
    for where, total, bins in _bin_families(doc):
        released = sum(b for b in bins if b is not None)
        leaks += [f"{where} bin = {b}" for b in bins if _is_count(b) and 0 < b < k]
        if bins and 0 < total - released < k:
            leaks.append(f"{where}: total {total} - released bins = {total - released}")
    leaks += grid_leaks(doc, k)
    leaks += slice_group_leaks(doc, k)
    cohort = doc["cohort"]
    for field in ("n", "events", "n_input_rows", "n_excluded"):
        v = cohort.get(field)
        if _is_count(v) and 0 < v < k:
            leaks.append(f"cohort.{field} = {v}")
    if _is_count(cohort.get("n_input_rows")) and _is_count(cohort.get("n")):
        gap = cohort["n_input_rows"] - cohort["n"]
        if 0 < gap < k:
            leaks.append(f"cohort n_input_rows - n = {gap}")
    return leaks


def slice_group_leaks(doc: dict[str, Any], k: int) -> list[str]:
    """A weak-slice group's ``patients`` is the union of its members (issue 19, point 4).

    Every member lies inside the union, so ``patients - n`` of a member counts the group's
    patients outside it, and ``cohort n - patients`` the patients outside the group: both must
    be 0 or >= k, and so must the patients themselves. The score must not carry the union in:
    it is the lead's released gap times the lead's released n (settings.slice_grouping).
    """
    safety = doc.get("safety") or {}
    slices = safety.get("weak_slices") or []
    n = doc["cohort"]["n"]
    out = []
    for j, g in enumerate(safety.get("weak_slice_groups") or []):
        pts = g["patients"]
        if pts is None:
            continue
        gaps = {f"- n of slice {i}": pts - slices[i]["n"] for i in g["members"]}
        gaps["itself"] = pts
        gaps["cohort n -"] = n - pts
        out += [f"weak_slice_groups[{j}] patients {w} = {v}" for w, v in gaps.items() if 0 < v < k]
    return out


def grid_leaks(doc: dict[str, Any], k: int) -> list[str]:
    """The threshold grid is cumulative: tp(t1) - tp(t2) counts the events scored in [t1, t2).

    Along each group's released thresholds -- with the operating threshold's released
    confusion counts, and the group's events and non-events at the ends -- neighbouring
    points must differ by 0 or >= k in tp and in fp.
    """
    out = []
    grid = doc["settings"]["threshold_grid"]
    for g in [doc["overall"], *doc["subgroups"]]:
        tg = g.get("threshold_grid") or {}
        if g.get("n") is None or not tg:
            continue
        points = [(-1.0, g["events"], g["n"] - g["events"])]
        points += [
            (t, tp, fp)
            for t, tp, fp in zip(grid, tg["tp"], tg["fp"], strict=True)
            if tp is not None and fp is not None
        ]
        conf = g.get("confusion") or {}
        if conf.get("tp") is not None:
            points.append((doc["settings"]["threshold"], conf["tp"], conf["fp"]))
        points.append((2.0, 0, 0))
        points.sort()
        for a, b in zip(points, points[1:], strict=False):
            for name, i in (("tp", 1), ("fp", 2)):
                if 0 < a[i] - b[i] < k:
                    out.append(
                        f"{g['attributes'] or 'overall'} grid {name}({a[0]}) - {name}({b[0]})"
                        f" = {a[i] - b[i]}"
                    )
    return out


def caveat_family_leaks(caveats: list[dict[str, Any]], k: int) -> list[str]:
    """Counts of one caveat that add up (n_rows = n_below + n_above) give a withheld part back."""
    out = []
    for c in caveats:
        w = c.get("where") or {}
        if _is_count(w.get("n_rows")):
            parts = [w.get("n_below"), w.get("n_above")]
            gap = w["n_rows"] - sum(v for v in parts if _is_count(v))
            if 0 < gap < k:
                out.append(f"caveat {c['code']} {w.get('column')}: n_rows - released parts = {gap}")
    return out


_COUNT_WORDS = r"(?:patients?|rows?|predictions?|people|events?|non-events?|below|above)"
_SMALL = re.compile(
    r"(?<![\d.,\[])(\d{1,3}(?:,\d{3})*)(?![\d.%])\s+(?:of \d[\d,]* )?" + _COUNT_WORDS
)


def caveat_leaks(caveats: list[dict[str, Any]], k: int) -> list[str]:
    out = []
    for c in caveats:
        for m in _SMALL.finditer(c["message"]):
            v = int(m.group(1).replace(",", ""))
            if 0 < v < k:
                out.append(f"caveat {c['code']}: {m.group(0)!r}")
        out += [f"caveat {c['code']} where" + s for s in _released_small("", _flat_where(c), k)]
    return out


def _flat_where(c: dict[str, Any]) -> dict[str, int | None]:
    return {f: v for f, v in _flatten(c.get("where") or {}).items() if _is_count(v)}


# ------------------------------------------------------------------------------------------
# the HTML report and the CSV tables
# ------------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


_COUNT_HEADER = re.compile(
    r"^(n|patients|events|outside population|.* out of range|.* missing)$", re.IGNORECASE
)
_PARENT_LABELS = {"overall", "the whole cohort", "whole cohort", "all patients"}


def _label(text: str) -> dict[str, str] | None:
    text = re.sub(r"\s*(\(reference\)|†)\s*", "", text).strip()
    if text.lower() in _PARENT_LABELS:
        return {}
    out = {}
    for part in text.split(" & "):
        if "=" in part:
            a, v = part.split("=", 1)
        elif " " in part:
            a, v = part.split(" ", 1)
        else:
            return None
        out[a.strip()] = v.strip()
    return out


def _int(cell: str) -> int | None:
    cell = cell.replace(",", "").strip()
    return int(cell) if re.fullmatch(r"\d+", cell) else None


def table_leaks(name: str, table: list[list[str]], k: int, cohort: dict) -> list[str]:
    if not table or not table[0]:
        return []
    header = table[0]
    cols = [i for i, h in enumerate(header) if _COUNT_HEADER.match(h)]
    if not cols:
        return []
    leaks = []
    rows = []
    for r in table[1:]:
        group = _label(r[0]) if r else None
        counts = {header[i]: _int(r[i]) if i < len(r) else None for i in cols}
        leaks += [f"{name} {r[0]!r} {h} = {v}" for h, v in counts.items() if v and v < k]
        if group is not None:
            rows.append({"group": group, **counts})
    if not header[0].lower().startswith("group"):
        return leaks
    parent = None
    if not any(r["group"] == {} for r in rows):
        parent = {"group": {}}
        for h in header:
            if h.lower() in ("n", "patients"):
                parent[h] = cohort["n"]
            if h.lower() == "events":
                parent[h] = cohort["events"]
    for where, p, children in _families(rows, parent):
        leaks += _leaks_in_family(f"{name} {where}", p, children, k)
    return leaks


def html_leaks(html: str, k: int, cohort: dict) -> list[str]:
    parser = _Tables()
    parser.feed(html)
    out = []
    for i, t in enumerate(parser.tables):
        out += table_leaks(f"HTML table {i}", t, k, cohort)
    return out


def csv_leaks(folder: Path, k: int) -> list[str]:
    with (folder / "metrics_by_group.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    groups = {}
    for r in rows:
        attrs = (
            dict(p.split("=", 1) for p in r["group"].split(" & "))
            if r["group"] != "overall"
            else {}
        )
        groups[tuple(sorted(attrs.items()))] = {
            "group": attrs,
            "n": _int(r["n"]),
            "events": _int(r["events"]),
        }
    table = [_with_derived(dict(g)) | {"group": g["group"]} for g in groups.values()]
    leaks = []
    for g in table:
        leaks += _released_small(
            f"CSV {g['group']}", {f: v for f, v in g.items() if f != "group"}, k
        )
    for where, p, children in _families(table):
        leaks += _leaks_in_family(f"CSV {where}", p, children, k)
    return leaks


# ------------------------------------------------------------------------------------------
# the specification
# ------------------------------------------------------------------------------------------


def _all_leaks(out: Path) -> list[str]:
    doc = json.loads((out / "audit.json").read_text())
    k = doc["settings"]["disclosure"]["min_cell"]
    assert k == K
    return (
        json_leaks(doc, k)
        + caveat_leaks(doc["caveats"], k)
        + caveat_family_leaks(doc["caveats"], k)
        + html_leaks((out / "audit.html").read_text(), k, doc["cohort"])
        + (csv_leaks(out / "tables", k) if (out / "tables").is_dir() else [])  # pool: no CSV
    )


def report_leaks(out: Path, k: int, cohort: dict) -> list[str]:
    """Every table of the report model that both the PDF and the HTML lay out."""
    from cohortaudit.render.report import Table, build_report
    from cohortaudit.resultio import read_json

    report = build_report(read_json(out / "audit.json"))
    leaks = []
    for section in report.sections:
        for block in section.blocks:
            if isinstance(block, Table):
                table = [list(block.header), *[[str(c) for c in r] for r in block.rows]]
                leaks += table_leaks(
                    f"PDF/HTML {block.caption or section.heading}", table, k, cohort
                )
    return leaks


@pytest.mark.parametrize("which", ["sample_out", "crafted_out"])
def test_the_report_tables_of_the_pdf_and_html_leak_nothing(which, request):
    out = request.getfixturevalue(which)
    doc = json.loads((out / "audit.json").read_text())
    leaks = report_leaks(out, K, doc["cohort"])
    assert leaks == [], "\n".join(leaks[:60])


@pytest.mark.parametrize("which", ["sample_out", "crafted_out", "pooled_out"])
def test_no_withheld_count_can_be_rebuilt_by_subtraction(which, request):
    leaks = _all_leaks(request.getfixturevalue(which))
    assert leaks == [], f"{len(leaks)} leaks:\n" + "\n".join(leaks[:60])


def test_the_crafted_cohort_has_the_small_groups_the_check_needs(crafted_out):
    """The crafted cohort must exercise the check: groups of 1..k-1 patients exist."""
    doc = json.loads((crafted_out / "audit.json").read_text())
    assert doc["cohort"]["n"] == 600
    small = [g for g in doc["subgroups"] if g["attributes"] in ({"age": "> 80"}, {"age": "< 40"})]
    assert small and all(g["suppressed"] for g in small)


def test_the_checker_finds_a_planted_leak(crafted_out):
    """The checker itself can fail: an intended-use group size left derivable is found."""
    doc = json.loads((crafted_out / "audit.json").read_text())
    rows = doc["safety"]["intended_use"]["rows"]
    age_rows = [r for r in rows if "age" in r["group"]]
    age_rows[0]["n"] = None
    rows[0]["n"] = sum(r["n"] for r in age_rows[1:]) + 3
    assert any("intended_use" in s and "n: parent" in s for s in json_leaks(doc, K))


def test_nested_counts_on_neighbouring_cut_offs_do_not_differ_by_less_than_k(sample_out):
    """The issue's patient aged 80: the out-of-range caveat counted 141 patients above the
    card's age maximum (79.9) while the intended-use table released 140 in the group '> 80',
    giving back the one patient aged exactly 80. Counts of one variable cut at neighbouring
    values, in different tables, must differ by 0 or >= k too."""
    doc = json.loads((sample_out / "audit.json").read_text())
    sizes = {
        r["group"]["age"]: r["n"]
        for r in doc["safety"]["intended_use"]["rows"]
        if list(r["group"]) == ["age"] and r["n"] is not None
    }
    order = ["< 40", "[40, 50)", "[50, 60)", "[60, 70)", "[70, 80]", "> 80"]
    runs = {  # every count between two cut-offs a reader can add up from the table
        sum(sizes[v] for v in order[i:j])
        for i in range(len(order))
        for j in range(i + 1, len(order) + 1)
        if all(v in sizes for v in order[i:j])
    }
    assert 140 in runs  # the table still releases the group '> 80'
    (caveat,) = [
        c
        for c in doc["caveats"]
        if c["code"] == "out_of_range" and c["where"].get("column") == "age"
    ]
    stated = [
        caveat["where"][key] for key in ("n_below", "n_above", "n_rows") if key in caveat["where"]
    ]
    stated += [
        int(x.replace(",", ""))
        for x in re.findall(r"(\d[\d,]*) (?:below|above)\b", caveat["message"])
    ]
    gaps = [abs(s - r) for s in stated for r in runs]
    assert all(g == 0 or g >= K for g in gaps), (caveat, sorted(runs))
    assert "141 above" not in caveat["message"] and "some above" in caveat["message"]


def test_the_slice_group_checker_finds_a_planted_leak(sample_out):
    """A group whose patients exceed a member's n by 1..k-1 is found; the real ones are not."""
    doc = json.loads((sample_out / "audit.json").read_text())
    groups = doc["safety"]["weak_slice_groups"]
    assert groups and slice_group_leaks(doc, K) == []
    lead = doc["safety"]["weak_slices"][groups[0]["lead"]]
    groups[0]["patients"] = lead["n"] + 3
    assert slice_group_leaks(doc, K) == [
        f"weak_slice_groups[0] patients - n of slice {groups[0]['lead']} = 3"
    ]


def test_caveat_checker_reads_counts_next_to_words():
    found = caveat_leaks(
        [
            {
                "code": "x",
                "message": "3 rows are missing 'bmi'; 25 patients kept (2 below).",
                "where": {},
            }
        ],
        K,
    )
    assert found == ["caveat x: '3 rows'", "caveat x: '2 below'"]


def test_counts_a_reader_knows_from_the_population_rule_do_not_protect(sample_out):
    """Every patient under 40 or over 80 is outside the card's population (age 40 to 80) and
    out of its age range, and nobody aged 40 to 70 is: a reader fills those cells in from the
    released group sizes whether or not they are withheld. With the whole cohort's count, the
    age group [70, 80] would then be given back (the issue's one patient aged exactly 80)."""
    doc = json.loads((sample_out / "audit.json").read_text())
    rows = doc["safety"]["intended_use"]["rows"]
    whole = next(r for r in rows if not r["group"])
    by_age = {r["group"]["age"]: r for r in rows if list(r["group"]) == ["age"]}
    known_by_rule = {"< 40": "all", "> 80": "all", "[40, 50)": 0, "[50, 60)": 0, "[60, 70)": 0}
    for column in ("outside_population", "out_of_range.age"):

        def cell(row, column=column):
            return row["out_of_range"]["age"] if column == "out_of_range.age" else row[column]

        total = cell(whole)
        if total is None:
            continue  # withheld: nothing to subtract from
        known = sum(by_age[g]["n"] if v == "all" else v for g, v in known_by_rule.items())
        released = {g: cell(r) for g, r in by_age.items() if g not in known_by_rule}
        rest = total - known - sum(v for v in released.values() if v is not None)
        assert rest == 0 or rest >= K, (column, total, known, released)
