"""The output manifest, its Ed25519 signature, and ``cohortaudit verify`` / ``keygen``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cohortaudit import __version__
from cohortaudit.cli import main
from cohortaudit.errors import ConfigError, ReportError
from cohortaudit.integrity import (
    canonical_bytes,
    generate_keypair,
    load_private_key,
    load_public_key,
    verify_dir,
    write_manifest,
)
from cohortaudit.results import AuditResult, CohortInfo, GroupResult, ModelInfo

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
FILES = {
    "audit.json": b'{"schema_version": "1.1.0"}\n',
    "report.pdf": b"%PDF-1.7 not really\x00\xff",
    "report.html": b"<html></html>\n",
    "tables/subgroups.csv": b"group,n\nsex=F,10\n",
}


def make_result() -> AuditResult:
    return AuditResult(
        model=ModelInfo(
            kind="onnx",
            sha256="a" * 64,
            file="model.onnx",
            card_sha256="b" * 64,
            card_file="model.card.yaml",
        ),
        cohort=CohortInfo(
            sha256="c" * 64,
            file="cohort.csv",
            n=10,
            events=2,
            n_input_rows=10,
            n_excluded=0,
            label="y",
            sensitive_features=("sex",),
        ),
        config={"label": "y", "sensitive_features": ["sex"], "n_boot": 50},
        settings={"policy": {"file": "policy.yaml", "sha256": "d" * 64, "rules": []}},
        overall=GroupResult(attributes={}, n=10, events=2, suppressed=False, metrics={}),
        subgroups=(),
        disparities=(),
        fairness=(),
        disclosure_log=(),
        caveats=(),
        tool={"name": "cohortaudit", "version": __version__},
    )


def _outputs(root: Path) -> Path:
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    key, pub = generate_keypair(d / "auditor")
    other_key, other_pub = generate_keypair(d / "other")
    return {"key": key, "pub": pub, "other_key": other_key, "other_pub": other_pub}


# --------------------------------------------------------------------------------------------
# the manifest
# --------------------------------------------------------------------------------------------


def test_manifest_lists_inputs_config_tool_and_every_output(tmp_path):
    out = _outputs(tmp_path / "out")
    path = write_manifest(out, make_result())
    m = json.loads(path.read_text())
    assert m["tool"] == {"name": "cohortaudit", "version": __version__}
    assert m["inputs"] == {
        "model": {"file": "model.onnx", "sha256": "a" * 64, "kind": "onnx"},
        "card": {"file": "model.card.yaml", "sha256": "b" * 64},
        "cohort": {"file": "cohort.csv", "sha256": "c" * 64},
        "policy": {"file": "policy.yaml", "sha256": "d" * 64},
    }
    assert m["config"] == make_result().config
    assert m["config_sha256"] == hashlib.sha256(canonical_bytes(m["config"])).hexdigest()
    assert m["files"] == [
        {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for rel, data in sorted(FILES.items())
    ]
    assert m["signature"] is None
    assert not (out / "manifest.sig").exists()
    report = verify_dir(out)
    assert report.ok and report.files_checked == 4 and report.signature == "unsigned"


def test_manifest_is_deterministic_for_the_same_outputs(tmp_path):
    a = write_manifest(_outputs(tmp_path / "a"), make_result()).read_bytes()
    b = write_manifest(_outputs(tmp_path / "b"), make_result()).read_bytes()
    again = write_manifest(tmp_path / "a", make_result()).read_bytes()  # manifest not self-listed
    assert a == b == again
    assert canonical_bytes(json.loads(a)) == canonical_bytes(json.loads(b))
    assert b" " not in canonical_bytes(json.loads(a)).replace(b"cohortaudit", b"")


@pytest.mark.parametrize("rel", sorted(FILES))
def test_verify_catches_a_one_byte_change_in_any_listed_file(tmp_path, rel):
    out = _outputs(tmp_path / "out")
    write_manifest(out, make_result())
    data = bytearray((out / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / rel).write_bytes(bytes(data))
    report = verify_dir(out)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{rel} was altered: its SHA-256 is ")


def test_verify_names_missing_and_extra_files_all_at_once(tmp_path):
    out = _outputs(tmp_path / "out")
    write_manifest(out, make_result())
    (out / "report.pdf").unlink()
    (out / "notes.txt").write_text("added later")
    (out / "tables" / "extra.csv").write_text("x")
    problems = verify_dir(out).problems
    assert problems == (
        f"report.pdf is listed in the manifest but missing from '{out}'.",
        f"notes.txt is in '{out}' but not listed in the manifest (added later).",
        f"tables/extra.csv is in '{out}' but not listed in the manifest (added later).",
    )


def test_symlinks_are_refused_when_writing_and_reported_when_verifying(tmp_path):
    out = _outputs(tmp_path / "out")
    os.symlink(tmp_path, out / "link")
    with pytest.raises(ReportError, match="^'link' in the output folder is a symbolic link"):
        write_manifest(out, make_result())
    (out / "link").unlink()
    write_manifest(out, make_result())
    (out / "audit.json").unlink()
    os.symlink(tmp_path / "elsewhere.json", out / "audit.json")
    assert verify_dir(out).problems[0] == (
        "audit.json is a symbolic link, not the file the manifest lists."
    )


def test_an_edited_manifest_path_is_reported_not_followed(tmp_path):
    out = _outputs(tmp_path / "out")
    m = json.loads(write_manifest(out, make_result()).read_text())
    m["files"][0]["path"] = "../outside.json"
    (out / "manifest.json").write_text(json.dumps(m))
    assert "The manifest lists an unsafe path '../outside.json'; it was edited." in (
        verify_dir(out).problems
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No manifest.json in '{out}'."),
        (b"{not json", "The manifest '{out}/manifest.json' is not valid JSON at line 1, column 2"),
        (
            b'{"files": [], "files": []}',
            "The manifest '{out}/manifest.json' gives the key 'files' twice",
        ),
        (b'{"files": [{"path": 1}]}', "'{out}/manifest.json' does not have the manifest layout"),
    ],
)
def test_an_unreadable_manifest_is_a_report_error(tmp_path, content, message):
    out = _outputs(tmp_path / "out")
    if content is not None:
        (out / "manifest.json").write_bytes(content)
    with pytest.raises(ReportError) as e:
        verify_dir(out)
    assert str(e.value).startswith(message.format(out=out))


# --------------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------------


def test_signed_manifest_verifies_with_the_right_key_only(tmp_path, keys):
    out = _outputs(tmp_path / "out")
    write_manifest(out, make_result(), private_key=load_private_key(keys["key"]))
    sig = base64.b64decode((out / "manifest.sig").read_text().strip(), validate=True)
    assert len(sig) == 64
    assert verify_dir(out, public_key=load_public_key(keys["pub"])).signature == "valid"
    assert verify_dir(out).signature == "self-consistent"  # its own key; signer unverified

    wrong = verify_dir(out, public_key=load_public_key(keys["other_pub"]))
    assert wrong.signature == "invalid"
    assert wrong.problems[0].startswith("Wrong public key: the manifest names the signing key ")


def test_a_bad_signature_or_an_edited_manifest_fails(tmp_path, keys):
    out = _outputs(tmp_path / "out")
    pub = load_public_key(keys["pub"])
    write_manifest(out, make_result(), private_key=load_private_key(keys["key"]))
    good_sig = (out / "manifest.sig").read_bytes()

    sig = bytearray(base64.b64decode(good_sig))
    sig[0] ^= 0x01
    (out / "manifest.sig").write_text(base64.b64encode(bytes(sig)).decode() + "\n")
    assert verify_dir(out, public_key=pub).problems == (
        "Bad signature: manifest.sig does not match manifest.json for this public key (the "
        "manifest or the signature was altered, or another key signed it).",
    )

    # re-hash a tampered audit.json into the manifest: hashes agree, the signature does not
    (out / "manifest.sig").write_bytes(good_sig)
    (out / "audit.json").write_bytes(b'{"schema_version": "1.1.0", "forged": true}\n')
    m = json.loads((out / "manifest.json").read_text())
    m["files"][0]["sha256"] = hashlib.sha256((out / "audit.json").read_bytes()).hexdigest()
    m["files"][0]["bytes"] = (out / "audit.json").stat().st_size
    (out / "manifest.json").write_text(json.dumps(m))
    problems = verify_dir(out, public_key=pub).problems
    assert len(problems) == 1 and problems[0].startswith("Bad signature: ")

    (out / "manifest.sig").write_text("not base64 !!\n")
    assert verify_dir(out, public_key=pub).problems == (
        "manifest.sig is not base64 text; it is damaged or was edited.",
    )


def test_missing_or_unexpected_signatures(tmp_path, keys):
    out = _outputs(tmp_path / "out")
    write_manifest(out, make_result(), private_key=load_private_key(keys["key"]))
    (out / "manifest.sig").unlink()
    assert verify_dir(out).problems == (
        f"The manifest says it is signed but manifest.sig is missing from '{out}'.",
    )
    # an unsigned re-run removes a stale signature, and a key then finds nothing to check
    write_manifest(out, make_result(), private_key=load_private_key(keys["key"]))
    write_manifest(out, make_result())
    assert not (out / "manifest.sig").exists()
    assert verify_dir(out, public_key=load_public_key(keys["pub"])).problems == (
        "A public key was given but the outputs are not signed (no manifest.sig).",
    )


def test_keys_keygen_refuses_overwrite_and_non_ed25519(tmp_path, keys):
    assert oct(keys["key"].stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ConfigError, match="already exists; keygen never overwrites a key"):
        generate_keypair(keys["key"].with_suffix(""))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "ec.pem"
    pem.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(
        ConfigError, match=r"is an elliptic-curve \(ECDSA\) key; --sign needs an Ed25519"
    ):
        load_private_key(pem)
    with pytest.raises(ConfigError, match=r"is not a PEM public key \(ValueError\)"):
        load_public_key(pem)
    with pytest.raises(ConfigError, match="^No private key file at"):
        load_private_key(tmp_path / "nope.key")
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigError, match="is encrypted; cohortaudit signs with an unencrypted"):
        load_private_key(encrypted)


# --------------------------------------------------------------------------------------------
# the CLI: audit --sign, verify, keygen
# --------------------------------------------------------------------------------------------


def test_cli_audit_sign_then_verify(tmp_path, keys, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier-notes.txt").write_text("in OUT before the audit")  # every file is covered
    args = [
        "audit",
        "--no-explain",
        "--model",
        str(SAMPLE / "model.onnx"),
        "--card",
        str(SAMPLE / "model.card.yaml"),
        "--cohort",
        str(SAMPLE / "cohort.csv"),
        "--label",
        "cvd_10y",
        "--sensitive",
        "sex",
        "--n-boot",
        "20",
        "--quiet",
        "--out",
        str(out),
        "--sign",
        str(keys["key"]),
    ]
    assert main(args) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert [f["path"] for f in m["files"]] == ["audit.json", "earlier-notes.txt"]
    audit = json.loads((out / "audit.json").read_text())
    assert m["inputs"]["model"]["sha256"] == audit["model"]["sha256"]
    assert m["inputs"]["cohort"]["sha256"] == audit["cohort"]["sha256"]
    assert m["inputs"]["card"]["sha256"] == audit["model"]["card_sha256"]
    assert m["config"] == audit["config"]
    capsys.readouterr()

    assert main(["verify", str(out), "--public-key", str(keys["pub"])]) == 0
    assert capsys.readouterr().out == "OK: 2 files match manifest.json; signature valid.\n"

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    data = bytearray((copy / "audit.json").read_bytes())
    data[100] ^= 0x20
    (copy / "audit.json").write_bytes(bytes(data))
    (copy / "earlier-notes.txt").unlink()
    (copy / "added.csv").write_text("x")
    assert main(["verify", str(copy), "--public-key", str(keys["other_pub"])]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4
    assert all(line.startswith("ReportError: ") for line in err)
    assert err[0].startswith("ReportError: audit.json was altered: its SHA-256 is ")
    assert err[1].startswith("ReportError: earlier-notes.txt is listed in the manifest but missing")
    assert err[2].startswith("ReportError: added.csv is in ")
    assert err[3].startswith("ReportError: Wrong public key: ")


def test_cli_verify_and_keygen_errors(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"ReportError: No manifest.json in '{tmp_path}'. Give the --out folder of 'cohortaudit "
        "audit' (version 0.1 or later writes a manifest there).\n"
    )
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert "Wrote private key" in capsys.readouterr().out
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 2
    assert capsys.readouterr().err.startswith(f"ConfigError: '{tmp_path / 'k.key'}' already exists")


def test_cli_a_bad_signing_key_exits_2_before_the_audit(tmp_path, capsys):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    args = ["audit", "--score-column", "s", "--cohort", str(tmp_path / "none.csv")]
    args += ["--label", "y", "--out", str(tmp_path / "o"), "--sign", str(bad)]
    assert main(args) == 2
    assert capsys.readouterr().err.startswith(f"ConfigError: '{bad}' is not a PEM private key")
    assert not (tmp_path / "o").exists()
