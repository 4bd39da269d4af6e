"""Integrity of an audit's outputs: a SHA-256 manifest, an optional Ed25519 signature, a verifier.

After every other output is written, ``OUT/manifest.json`` records the SHA-256 of the audited
model, card, cohort and policy (as the result recorded them: those files live elsewhere), the
audit configuration, and every file in ``OUT`` (audit.json, PDF, HTML, CSVs, ...), with the tool
version. ``--sign KEY`` adds ``OUT/manifest.sig``: base64 of an Ed25519 signature over
:func:`canonical_bytes` of the manifest, whose ``signature`` block names the public key (raw,
base64) and its SHA-256. Without ``--public-key``, :func:`verify_dir` checks the signature
against that key: a stale signature fails, but the signer is not verified ("self-consistent"). The manifest holds no time stamp, so the same outputs
give the same manifest byte for byte.

:func:`verify_dir` re-hashes every listed file and names each altered, missing or extra file and
any signature problem; it returns the problems rather than raising on the first, so a reviewer
sees all of them at once. Canonical form: JSON with sorted keys, no whitespace, UTF-8 -- the
manifest holds only strings, integers and null, so there is no float formatting to disagree on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cohortaudit import __version__
from cohortaudit.errors import ConfigError, ReportError
from cohortaudit.outputs import OutputFolder, write_output
from cohortaudit.results import AuditResult
from cohortaudit.safeload import parse_json, read_limited

__all__ = [
    "MANIFEST_NAME",
    "SIGNATURE_NAME",
    "MANIFEST_VERSION",
    "canonical_bytes",
    "build_manifest",
    "write_manifest",
    "verify_dir",
    "VerifyReport",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "public_key_sha256",
]

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
MANIFEST_VERSION = "1.0"
#: A manifest lists a handful of files; a signature and a PEM key are a few hundred bytes.
MAX_MANIFEST_BYTES = 1 * 2**20
_MAX_KEY_BYTES = 64 * 2**10
_CHUNK = 1 << 20


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, compact separators, UTF-8, no NaN."""
    return json.dumps(
        manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _output_files(out_dir: Path) -> list[str]:
    """Every regular file under ``out_dir`` as a POSIX relative path, sorted, minus the manifest
    and its signature. Symbolic links are refused: they could point outside the folder."""
    found: list[str] = []
    for root, dirs, files in os.walk(out_dir):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if (Path(root) / d).is_symlink()]:
            p = Path(root) / name
            rel = p.relative_to(out_dir).as_posix()
            if rel in (MANIFEST_NAME, SIGNATURE_NAME):
                continue
            if p.is_symlink():
                raise ReportError(
                    f"'{rel}' in the output folder is a symbolic link; the manifest covers "
                    "regular files only. Replace it with the file itself or remove it."
                )
            found.append(rel)
    return sorted(found)


def build_manifest(
    out_dir: str | Path,
    result: AuditResult,
    *,
    public_key_sha256: str | None = None,
    public_key: str | None = None,
) -> dict[str, Any]:
    """The manifest of ``out_dir`` as it is now (call after every other output is written)."""
    out_dir = Path(out_dir)
    m, c = result.model, result.cohort
    policy = result.settings.get("policy") or None
    config_bytes = canonical_bytes(result.config)
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": {"name": "cohortaudit", "version": __version__},
        "hash": "sha256",
        "inputs": {
            "model": {"file": m.file, "sha256": m.sha256, "kind": m.kind},
            "card": ({"file": m.card_file, "sha256": m.card_sha256} if m.card_sha256 else None),
            "cohort": {"file": c.file, "sha256": c.sha256},
            "policy": (
                {"file": policy.get("file"), "sha256": policy.get("sha256")} if policy else None
            ),
        },
        "config": json.loads(config_bytes),
        "config_sha256": hashlib.sha256(config_bytes).hexdigest(),
        "files": [
            {
                "path": rel,
                "sha256": sha256_file(out_dir / rel),
                "bytes": (out_dir / rel).stat().st_size,
            }
            for rel in _output_files(out_dir)
        ],
        "signature": (
            {
                "algorithm": "Ed25519",
                "public_key_sha256": public_key_sha256,
                **({"public_key": public_key} if public_key else {}),
                "file": SIGNATURE_NAME,
            }
            if public_key_sha256
            else None
        ),
    }


def write_manifest(
    out_dir: str | Path, result: AuditResult, *, private_key: Any | None = None
) -> Path:
    """Write ``manifest.json`` (and ``manifest.sig`` when ``private_key`` is given) in
    ``out_dir``. A signature left by an earlier run is removed, so it cannot vouch for this one."""
    out_dir = Path(out_dir)
    pub_sha = pub_b64 = None
    if private_key is not None:
        pub_sha = public_key_sha256(private_key.public_key())
        pub_b64 = base64.b64encode(_raw_public_bytes(private_key.public_key())).decode("ascii")
    manifest = build_manifest(out_dir, result, public_key_sha256=pub_sha, public_key=pub_b64)
    folder = OutputFolder(out_dir)
    folder.remove(SIGNATURE_NAME)
    path = folder.write(
        MANIFEST_NAME, json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )
    if private_key is not None:
        signature = private_key.sign(canonical_bytes(manifest))
        folder.write(SIGNATURE_NAME, base64.b64encode(signature).decode("ascii") + "\n")
    return path


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_dir` found: one plain sentence per problem; ok when there are none."""

    files_checked: int
    #: "valid" (checked against the key given), "self-consistent" (checked against the key the
    #: manifest names: the signer is not verified), "not checked" (an old manifest without its
    #: key, and no key given), "unsigned" or "invalid".
    signature: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_manifest(dir_: Path) -> dict[str, Any]:
    path = dir_ / MANIFEST_NAME
    damaged = "It is damaged or was edited; the outputs cannot be verified."
    try:
        data = read_limited(
            path, max_bytes=MAX_MANIFEST_BYTES, what=f"'{path}'", error=ReportError, hint=damaged
        )
    except FileNotFoundError:
        raise ReportError(
            f"No {MANIFEST_NAME} in '{dir_}'. Give the --out folder of 'cohortaudit audit' "
            "(version 0.1 or later writes a manifest there)."
        ) from None
    manifest = parse_json(
        data,
        what=f"The manifest '{path}'",
        error=ReportError,
        hint=damaged,
        reject_duplicate_keys=True,
    )
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("files"), list)
        or not all(
            isinstance(e, dict)
            and isinstance(e.get("path"), str)
            and isinstance(e.get("sha256"), str)
            for e in manifest["files"]
        )
    ):
        raise ReportError(
            f"'{path}' does not have the manifest layout (a 'files' list of path and sha256). "
            "It was not written by cohortaudit or was edited."
        )
    return manifest


def _safe_rel(rel: str) -> bool:
    p = PurePosixPath(rel)
    return (
        bool(rel)
        and not p.is_absolute()
        and "\\" not in rel
        and all(part not in ("", ".", "..") for part in rel.split("/"))
        and rel not in (MANIFEST_NAME, SIGNATURE_NAME)
    )


def verify_dir(dir_: str | Path, *, public_key: Any | None = None) -> VerifyReport:
    """Re-hash every file the manifest lists, look for files it does not list, and check the
    signature (against ``public_key`` when given). Raises ReportError only when there is no
    readable manifest; every other problem is collected in the report."""
    dir_ = Path(dir_)
    if not dir_.is_dir():
        raise ReportError(f"'{dir_}' is not a folder. Give the --out folder of an audit.")
    manifest = _read_manifest(dir_)
    problems: list[str] = []
    listed: set[str] = set()
    for entry in manifest["files"]:
        rel = entry["path"]
        if not _safe_rel(rel):
            problems.append(f"The manifest lists an unsafe path {rel!r}; it was edited.")
            continue
        listed.add(rel)
        p = dir_ / rel
        if p.is_symlink():
            problems.append(f"{rel} is a symbolic link, not the file the manifest lists.")
        elif not p.is_file():
            problems.append(f"{rel} is listed in the manifest but missing from '{dir_}'.")
        else:
            actual = sha256_file(p)
            if actual != entry["sha256"]:
                problems.append(
                    f"{rel} was altered: its SHA-256 is {actual[:16]}... but the manifest "
                    f"lists {entry['sha256'][:16]}...."
                )
    try:
        present = _output_files(dir_)
    except ReportError as exc:
        problems.append(str(exc))
        present = []
    for rel in present:
        if rel not in listed:
            problems.append(f"{rel} is in '{dir_}' but not listed in the manifest (added later).")
    signature = _check_signature(dir_, manifest, public_key, problems)
    return VerifyReport(files_checked=len(listed), signature=signature, problems=tuple(problems))


def _check_signature(
    dir_: Path, manifest: dict[str, Any], public_key: Any | None, problems: list[str]
) -> str:
    from cryptography.exceptions import InvalidSignature

    declared = manifest.get("signature")
    sig_path = dir_ / SIGNATURE_NAME
    if not sig_path.is_file():
        if declared:
            problems.append(
                f"The manifest says it is signed but {SIGNATURE_NAME} is missing from '{dir_}'."
            )
            return "invalid"
        if public_key is not None:
            problems.append(
                f"A public key was given but the outputs are not signed (no {SIGNATURE_NAME})."
            )
            return "invalid"
        return "unsigned"
    self_check = public_key is None
    if self_check:
        public_key = _manifest_public_key(declared, problems)
        if public_key is None:
            return "invalid" if problems else "not checked"
    try:
        sig = read_limited(
            sig_path, max_bytes=_MAX_KEY_BYTES, what=SIGNATURE_NAME, error=ReportError
        )
        signature = base64.b64decode(sig.strip(), validate=True)
    except (OSError, ValueError, ReportError):
        problems.append(f"{SIGNATURE_NAME} is not base64 text; it is damaged or was edited.")
        return "invalid"
    try:
        public_key.verify(signature, canonical_bytes(manifest))
    except InvalidSignature:
        if self_check:
            problems.append(
                f"Bad signature: {SIGNATURE_NAME} does not match {MANIFEST_NAME} for the public "
                "key the manifest names: the manifest or the signature was altered after "
                "signing (a stale signature). Re-run the audit with --sign, or get the original "
                "outputs."
            )
            return "invalid"
        given = public_key_sha256(public_key)
        named = declared.get("public_key_sha256") if isinstance(declared, dict) else None
        if named and named != given:
            problems.append(
                "Wrong public key: the manifest names the signing key "
                f"{str(named)[:16]}... but the key given is {given[:16]}... (SHA-256 of the raw "
                "public keys). Use the signer's public key."
            )
            return "invalid"
        problems.append(
            f"Bad signature: {SIGNATURE_NAME} does not match {MANIFEST_NAME} for this public "
            "key (the manifest or the signature was altered, or another key signed it)."
        )
        return "invalid"
    return "self-consistent" if self_check else "valid"


def _manifest_public_key(declared: Any, problems: list[str]) -> Any | None:
    """The Ed25519 key a signed manifest names (``signature.public_key``), or None.

    Checking the signature against it cannot say *who* signed (anyone can put their own key
    there), but it does catch a manifest edited after signing -- a stale signature -- without
    asking for the signer's key. A key that does not match its own fingerprint is an edit.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(declared, dict) or declared.get("public_key") is None:
        return None  # a manifest written before the key was recorded: nothing to check with
    try:
        raw = base64.b64decode(str(declared["public_key"]), validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        problems.append(
            f"The public key in {MANIFEST_NAME} is not a base64 Ed25519 key; the manifest was "
            "edited."
        )
        return None
    if public_key_sha256(key) != declared.get("public_key_sha256"):
        problems.append(
            f"The public key in {MANIFEST_NAME} does not match its own SHA-256 "
            "(public_key_sha256); the manifest was edited."
        )
        return None
    return key


# --------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------


def _raw_public_bytes(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def public_key_sha256(public_key: Any) -> str:
    """SHA-256 of the raw 32-byte Ed25519 public key (a fingerprint to name the signer's key)."""
    return hashlib.sha256(_raw_public_bytes(public_key)).hexdigest()


def generate_keypair(prefix: str | Path) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (PKCS#8 PEM, unencrypted, mode 0600) and ``PREFIX.pub``. Existing
    files are never overwritten."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    prefix = Path(prefix)
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    for p in (key_path, pub_path):
        if p.exists() or p.is_symlink():
            raise ConfigError(
                f"'{p}' already exists; keygen never overwrites a key. Choose another --out "
                "prefix or move the old key away."
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem)
        write_output(pub_path.parent, pub_path.name, public_pem)
    except OSError as exc:
        raise ConfigError(f"Could not write the key pair at '{prefix}': {exc.strerror}.") from None
    return key_path, pub_path


def load_private_key(path: str | Path) -> Any:
    """An Ed25519 private key from a PEM file (unencrypted PKCS#8, as ``keygen`` writes)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read_key_file(path, "private")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(
            f"The private key '{path}' is encrypted; cohortaudit signs with an unencrypted "
            "Ed25519 PEM key (keep it on a protected machine, or make one with "
            "'cohortaudit keygen')."
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"'{path}' is not a PEM private key ({type(exc).__name__}). Give an Ed25519 "
            "private key, e.g. one made by 'cohortaudit keygen --out PREFIX'."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"The private key '{path}' is {_key_kind(key)}; --sign needs an "
            "Ed25519 key. Make one with 'cohortaudit keygen --out PREFIX'."
        )
    return key


def load_public_key(path: str | Path) -> Any:
    """An Ed25519 public key from a PEM file (SubjectPublicKeyInfo, as ``keygen`` writes)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read_key_file(path, "public")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"'{path}' is not a PEM public key ({type(exc).__name__}). Give the Ed25519 "
            "public key (.pub) that belongs to the signing key."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(
            f"The public key '{path}' is {_key_kind(key)}; verify needs an Ed25519 public key."
        )
    return key


def _key_kind(key: Any) -> str:
    """A stable name for the key's algorithm (class names differ between cryptography builds)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa

    for kind, classes in (
        ("an RSA key", (rsa.RSAPrivateKey, rsa.RSAPublicKey)),
        ("an elliptic-curve (ECDSA) key", (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)),
        ("a DSA key", (dsa.DSAPrivateKey, dsa.DSAPublicKey)),
        ("an Ed448 key", (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)),
    ):
        if isinstance(key, classes):
            return kind
    return "not an Ed25519 key"


def _read_key_file(path: str | Path, kind: str) -> bytes:
    try:
        return read_limited(
            path,
            max_bytes=_MAX_KEY_BYTES,
            what=f"The {kind} key file '{path}'",
            error=ConfigError,
            hint="A key file is a short PEM file written by 'cohortaudit keygen'.",
        )
    except FileNotFoundError:
        raise ConfigError(f"No {kind} key file at '{path}'.") from None
