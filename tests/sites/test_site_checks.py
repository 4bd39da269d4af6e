"""Pooling cannot be fooled (issue 14, point 4): what ``cohortaudit pool`` refuses, and why.

Each attack starts from a shipped sample site file, changes it the way an attacker would, and
recomputes ``content_sha256`` exactly as the export does (:func:`content_sha256`), so the
content hash no longer protects the file: what stops the attack is the check under test. Each
refusal is exit 2 with one ``InputError`` line naming the file, the group and the field.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cohortaudit.cli import main
from cohortaudit.errors import ConfigError, InputError
from cohortaudit.integrity import generate_keypair, load_private_key, load_public_key
from cohortaudit.sites.checks import check_no_duplicate_cohorts, check_site_file
from cohortaudit.sites.export import content_sha256, read_site_file, site_json
from cohortaudit.sites.pool import pool_site_files, pool_sites
from cohortaudit.sites.signature import signature_path, write_site_signature

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_SITES = ROOT / "sample_data" / "sites"
NAMES = ("DE-Berlin", "ES-Valencia", "FI-Tampere", "FR-Lyon")


def _sample(name: str) -> dict:
    return json.loads((SAMPLE_SITES / f"{name}.json").read_text(encoding="utf-8"))


def _rehash_and_write(data: dict, path: Path) -> Path:
    """Write ``data`` as the export does, with its self-hash recomputed (what an attacker does)."""
    data["content_sha256"] = content_sha256(data)
    path.write_text(site_json(data), encoding="utf-8")
    return path


def _group(data: dict, **attributes: str) -> dict:
    return next(g for g in data["groups"] if g["attributes"] == attributes)


def _pool(tmp_path: Path, capsys, files, *options: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["pool", *map(str, files), "--out", str(tmp_path / "out"), "--quiet", *options])
    return rc, capsys.readouterr().err


def _others(*, but: str) -> list[Path]:
    return [SAMPLE_SITES / f"{s}.json" for s in NAMES if s != but]


# ---------------------------------------------------------------------------- sample still pools


def test_every_shipped_site_file_passes_every_check():
    sites = [read_site_file(SAMPLE_SITES / f"{s}.json") for s in NAMES]
    before = copy.deepcopy(sites)
    for d, s in zip(sites, NAMES, strict=True):
        check_site_file(d, file_name=f"{s}.json")
    check_no_duplicate_cohorts(sites, [f"{s}.json" for s in NAMES])  # 4 disjoint --where
    assert sites == before  # the checks read, they never patch


# ---------------------------------------------------------------------------- duplicate cohorts


def test_a_site_file_copied_under_another_site_name_is_refused(tmp_path, capsys):
    """Same cohort SHA-256 and the same --where: 9,322 Berlin patients would count twice."""
    copy_ = _sample("DE-Berlin")
    copy_["site"] = "XX-Copy"
    path = _rehash_and_write(copy_, tmp_path / "XX-Copy.json")
    rc, err = _pool(tmp_path, capsys, [*(SAMPLE_SITES / f"{s}.json" for s in NAMES), path])
    assert rc == 2
    assert err.startswith(
        "InputError: The site files 'DE-Berlin.json' (site 'DE-Berlin') and 'XX-Copy.json' "
        "(site 'XX-Copy') were exported from the same cohort file (SHA-256 9d396cf12d79...) "
        "with the same selection (--where site=DE-Berlin and --where site=DE-Berlin): the same "
        "patients would be counted twice."
    ), err
    assert "Traceback" not in err


def test_a_renamed_copy_with_its_cohort_facts_changed_is_refused_by_its_numbers(tmp_path, capsys):
    copy_ = _sample("FI-Tampere")
    copy_["site"] = "XX-Copy"
    copy_["cohort"] = {"file": "other.csv", "sha256": "0" * 64, "where": {}, "caveats": []}
    for g in copy_["groups"]:  # relabel the site's own groups too
        if "site" in g["attributes"]:
            g["attributes"]["site"] = "XX-Copy"
    copy_["value_order"]["site"] = ["XX-Copy"]
    path = _rehash_and_write(copy_, tmp_path / "copy.json")
    rc, err = _pool(tmp_path, capsys, [SAMPLE_SITES / "FI-Tampere.json", path])
    assert rc == 2
    assert (
        "'FI-Tampere.json' (site 'FI-Tampere') and 'copy.json' (site 'XX-Copy') hold identical "
        "aggregates (every count and sum of every released group is the same): the same "
        "patients would be counted twice." in err
    ), err


def test_overlapping_selections_of_one_cohort_file_are_refused():
    """All rows of a cohort file and one site's rows of the same file overlap."""
    whole, berlin = _sample("FR-Lyon"), _sample("DE-Berlin")
    whole["cohort"]["where"] = {}
    whole["content_sha256"] = content_sha256(whole)
    with pytest.raises(
        InputError,
        match=r"same cohort file .* with overlapping selections \(--where site=DE-Berlin and "
        r"all rows\): the same patients would be counted twice",
    ):
        pool_sites([berlin, whole], file_names=["b.json", "w.json"])


# ---------------------------------------------------------------------------- internal consistency


def test_events_plus_100_with_a_recomputed_hash_is_refused_naming_file_group_field(
    tmp_path, capsys
):
    data = _sample("FR-Lyon")
    g = _group(data, sex="F")
    g["events"] += 100  # O/E would be wrong by 100 events
    path = _rehash_and_write(data, tmp_path / "FR-Lyon.json")
    rc, err = _pool(tmp_path, capsys, [*_others(but="FR-Lyon"), path])
    assert rc == 2
    assert err.startswith(
        f"InputError: The site file 'FR-Lyon.json' (site 'FR-Lyon'): group sex=F says "
        f"events = {g['events']} but its 'events' histogram sums to {g['events'] - 100}."
    ), err


def _add_100_events_to_group_and_histogram(d):
    """Events +100 in sex=F, in n and in an empty histogram bin: the counts add up, but 100
    events whose risks sum to 0 cannot sit in a bin (every risk is clipped to >= 1e-8)."""
    g = _group(d, sex="F")
    g["events"] += 100
    g["n"] += 100
    g["histogram"]["events"][0] += 100


def _replace_men_by_women(d):
    """sex=M gets sex=F's numbers: each group agrees with itself, the partition does not."""
    women, men = _group(d, sex="F"), _group(d, sex="M")
    for key in ("n", "events", "sums", "histogram"):
        men[key] = copy.deepcopy(women[key])


def _move_risk_out_of_its_bin(d):
    g = _group(d, sex="M")
    h = g["histogram"]
    h["sum_p_events"][0] += 5.0
    g["sums"]["sum_p_events"] += 5.0


def _edit(path, value):
    def change(d):
        node = d
        for key in path[:-1]:
            node = node[key] if not callable(key) else key(node)
        node[path[-1]] = value(node[path[-1]])

    return change


_TAMPERINGS = {
    "group and histogram +100 events": (
        _add_100_events_to_group_and_histogram,
        r"group sex=F: bin \[0, [\d.]+\) of histogram 'sum_p_events' is 0, outside "
        r"\[1e-06, [\d.]+\], the range its 100 events can give",
    ),
    "a group replaced by its sibling": (
        _replace_men_by_women,
        r"the groups of partition sex within the whole cohort hold n = \d+ in all, but "
        r"the whole cohort says n = \d+; every patient is in exactly one group",
    ),
    "risk sum of a group": (
        _edit(
            ("groups", lambda gs: _group({"groups": gs}, sex="F"), "sums", "sum_p_events"),
            lambda v: v + 1.0,
        ),
        r"group sex=F says sum_p_events = [\d.]+ but its histogram's 'sum_p_events' sums to",
    ),
    "risk moved outside its bin": (
        _move_risk_out_of_its_bin,
        r"group sex=M: bin \[0, [\d.]+\) of histogram 'sum_p_events' is [\d.]+, outside",
    ),
    "spiegelhalter numerator": (
        _edit(("groups", 0, "sums", "spiegelhalter_num"), lambda v: v + 3.0),
        r"the whole cohort says spiegelhalter_num = [\d.]+ but its other sums give",
    ),
    "brier sum": (
        _edit(("groups", 0, "sums", "sum_sq_error_raw"), lambda v: v * 0.9),
        r"the whole cohort says sum_sq_error_raw = .* clipping risks .* cannot move them",
    ),
    "unsorted bin edges": (
        _edit(("partitions", 1, "edges"), lambda e: [e[0], e[2], e[1], *e[3:]]),
        r"partition sex: the score-bin edges must rise strictly from 0 to 1.*not sorted",
    ),
    "an edge off the grid": (
        _edit(("partitions", 1, "edges"), lambda e: [e[0], (e[1] + e[2]) / 2, *e[2:]]),
        r"partition sex: the edge [\d.]+ is not an edge of the fine score grid",
    ),
    "a negative count": (
        _edit(("groups", 0, "histogram", "non_events"), lambda c: [-c[0], *c[1:]]),
        r"the whole cohort: 'histogram.non_events' holds a value that is not an integer in",
    ),
    "a count that is not an integer": (
        _edit(("groups", 0, "n"), lambda n: n + 0.5),
        r"the whole cohort: 'n' must be a non-negative integer",
    ),
    "a histogram of the wrong length": (
        _edit(("groups", 0, "histogram", "events"), lambda c: c[:-1]),
        r"the whole cohort: 'histogram.events' must be a list of \d+ values",
    ),
    "a setting of the wrong type": (
        _edit(("settings", "confidence"), lambda c: "95%"),
        r"'settings.confidence' must be a number in \(0, 1\)",
    ),
    "value order of the wrong type": (
        _edit(("value_order", "sex"), lambda v: 3),
        r"'value_order.sex' is not a list of texts",
    ),
    "a group of no partition": (
        _edit(("groups", 1, "attributes"), lambda a: {"colour": "red"}),
        r"group colour=red: there is no partition colour",
    ),
}


@pytest.mark.parametrize("tampering", sorted(_TAMPERINGS))
def test_a_file_that_contradicts_itself_is_refused_before_pooling(tampering):
    change, message = _TAMPERINGS[tampering]
    data = _sample("ES-Valencia")
    change(data)
    data["content_sha256"] = content_sha256(data)
    with pytest.raises(InputError, match=r"^The site file 'v\.json' \(site 'ES-Valencia'\): "):
        check_site_file(data, file_name="v.json")
    with pytest.raises(InputError, match=message):
        pool_sites([data], file_names=["v.json"], n_boot=0)


# ---------------------------------------------------------------------------- disclosure again


def test_a_histogram_bin_of_3_below_k_10_is_refused(tmp_path, capsys):
    data = _sample("DE-Berlin")
    h = _group(data, sex="M")["histogram"]
    h["non_events"][0] = 3
    path = _rehash_and_write(data, tmp_path / "DE-Berlin.json")
    rc, err = _pool(tmp_path, capsys, [*_others(but="DE-Berlin"), path])
    assert rc == 2
    assert err.startswith(
        "InputError: The site file 'DE-Berlin.json' (site 'DE-Berlin'): group sex=M: bin "
    ), err
    assert (
        "of histogram 'non_events' holds 3, a count between 1 and 9 that the file's own "
        "minimum cell (min_cell = 10) forbids; a correct 'cohortaudit site-export' never writes "
        "one. Refused without pooling" in err
    ), err


def test_a_bin_below_k_is_refused_even_when_the_totals_are_kept(tmp_path):
    """The attacker moves all but 3 of a bin's patients to the next bin: totals still add up."""
    data = _sample("DE-Berlin")
    h = _group(data, sex="M")["histogram"]
    j = next(i for i, c in enumerate(h["events"]) if c >= 13)
    h["events"][j + 1] += h["events"][j] - 3
    h["events"][j] = 3
    data["content_sha256"] = content_sha256(data)
    with pytest.raises(InputError, match=r"histogram 'events' holds 3, a count between 1 and 9"):
        check_site_file(data, file_name="b.json")


def test_a_released_group_below_k_and_a_withheld_group_with_numbers_are_refused():
    data = _sample("FI-Tampere")
    small = copy.deepcopy(data)
    g = next(x for x in small["groups"] if not x["suppressed"] and x["attributes"])
    g["events"], g["n"] = 4, g["n"] - g["events"] + 4
    with pytest.raises(InputError, match=r"is released with events = 4, a count between 1 and 9"):
        check_site_file(small, file_name="f.json")
    leaky = copy.deepcopy(data)
    g = next(x for x in leaky["groups"] if x["suppressed"])
    g["n"] = 7
    with pytest.raises(InputError, match=r"is withheld but carries n: a withheld group must"):
        check_site_file(leaky, file_name="f.json")


def test_a_cohort_caveat_counting_fewer_than_k_rows_is_refused():
    data = _sample("DE-Berlin")
    data["cohort"]["caveats"][0]["where"]["n_below"] = 2
    with pytest.raises(
        InputError, match=r"the cohort caveat 'outside_bins' states n_below = 2, a count between"
    ):
        check_site_file(data, file_name="b.json")


def test_the_coordinators_larger_min_cell_refuses_counts_the_site_allowed(tmp_path, capsys):
    files = [SAMPLE_SITES / f"{s}.json" for s in NAMES]
    rc, err = _pool(tmp_path, capsys, files, "--min-cell", "20")
    assert rc == 2
    assert "below this pool's --min-cell 20 (the site exported with min_cell = 10)" in err, err
    assert "re-export with --min-cell 20" in err


# ---------------------------------------------------------------------------- signatures


@pytest.fixture
def signed(tmp_path):
    """FI-Tampere's sample file, signed with a fresh key; the public key's path."""
    key_path, pub_path = generate_keypair(tmp_path / "keys" / "tampere")
    site = tmp_path / "FI-Tampere.json"
    site.write_bytes((SAMPLE_SITES / "FI-Tampere.json").read_bytes())
    write_site_signature(read_site_file(site), site, load_private_key(key_path))
    return site, pub_path


def test_a_signed_site_file_verifies_and_pools(tmp_path, capsys, signed):
    site, pub = signed
    capsys.readouterr()
    rc = main(["pool", str(site), str(SAMPLE_SITES / "FR-Lyon.json"), "--out",
               str(tmp_path / "out"), "--public-key", f"FI-Tampere={pub}"])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "Signatures verified for: FI-Tampere." in out.out


def test_a_tampered_signature_is_refused(tmp_path, capsys, signed):
    site, pub = signed
    sig = signature_path(site)
    text = sig.read_text()
    sig.write_text(("B" if text[0] != "B" else "C") + text[1:])
    rc, err = _pool(tmp_path, capsys, [site], "--public-key", f"FI-Tampere={pub}")
    assert rc == 2
    assert err.startswith(
        "InputError: The signature 'FI-Tampere.json.sig' does not match the site file "
        "'FI-Tampere.json' (site 'FI-Tampere') for the public key given for 'FI-Tampere'"
    ), err


def test_a_signed_file_edited_and_rehashed_is_refused(tmp_path, capsys, signed):
    site, pub = signed
    data = json.loads(site.read_text())
    data["disclosure_log"] = []  # harmless to every other check: only the signature sees it
    _rehash_and_write(data, site)
    rc, err = _pool(tmp_path, capsys, [site], "--public-key", f"FI-Tampere={pub}")
    assert rc == 2 and "does not match the site file 'FI-Tampere.json'" in err, err


def test_a_site_with_a_key_but_no_signature_or_another_signer_is_refused(tmp_path, signed):
    site, pub = signed
    other_key, _ = generate_keypair(tmp_path / "keys" / "mallory")
    write_site_signature(read_site_file(site), site, load_private_key(other_key))
    keys = {"FI-Tampere": load_public_key(pub)}
    with pytest.raises(InputError, match="does not match the site file 'FI-Tampere.json'"):
        pool_site_files([site], public_keys=keys, n_boot=0)
    signature_path(site).unlink()
    with pytest.raises(InputError, match=r"is not signed: there is no 'FI-Tampere\.json\.sig'"):
        pool_site_files([site], public_keys=keys, n_boot=0)
    with pytest.raises(ConfigError, match="a key for the site 'FI-Lapland', but no site file"):
        pool_site_files([site], public_keys={"FI-Lapland": load_public_key(pub)}, n_boot=0)


def test_pool_public_key_option_must_be_site_equals_path(tmp_path, capsys):
    rc, err = _pool(tmp_path, capsys, [SAMPLE_SITES / "FR-Lyon.json"], "--public-key", "x.pem")
    assert rc == 2 and "is not of the form SITE=PUB.pem" in err
