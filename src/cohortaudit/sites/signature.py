"""Detached Ed25519 signatures of site files: who wrote a site file, not only that it is intact.

A site file's ``content_sha256`` detects an edit only when the editor did not recompute it. A
site that signs its file (``cohortaudit site-export --sign SITE.key``, a key made by
``cohortaudit keygen``) writes ``FILE.sig`` beside ``FILE``: base64 of an Ed25519 signature
over the canonical JSON of the file's whole content (:func:`cohortaudit.integrity.
canonical_bytes`: sorted keys, no whitespace, UTF-8; ``content_sha256`` included). The
signature therefore survives re-indenting the file but not any change to what it says.

The coordinator gives each site's public key (``cohortaudit pool --public-key SITE=SITE.pub``,
repeatable). A site with a key must come with a valid signature from that key, or its file is
refused; sites without a key are pooled on their content hash alone, as before.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cohortaudit.errors import ConfigError, InputError
from cohortaudit.integrity import canonical_bytes, public_key_sha256
from cohortaudit.outputs import OutputFolder, write_output

__all__ = [
    "SIGNATURE_SUFFIX",
    "signature_path",
    "write_site_signature",
    "remove_site_signature",
    "parse_public_key_specs",
    "verify_site_signatures",
]

SIGNATURE_SUFFIX = ".sig"


def signature_path(site_path: str | Path) -> Path:
    """Where the signature of ``site_path`` lives: the same name with ``.sig`` appended."""
    p = Path(site_path)
    return p.with_name(p.name + SIGNATURE_SUFFIX)


def write_site_signature(data: dict[str, Any], site_path: str | Path, private_key: Any) -> Path:
    """Sign the site file's content with ``private_key`` and write ``SITE_PATH.sig``."""
    path = signature_path(site_path)
    signature = private_key.sign(canonical_bytes(data))
    write_output(path.parent, path.name, base64.b64encode(signature).decode("ascii") + "\n")
    return path


def remove_site_signature(site_path: str | Path) -> None:
    """Remove a signature left by an earlier export, so it cannot seem to vouch for this one."""
    path = signature_path(site_path)
    OutputFolder(path.parent).remove(path.name)


def parse_public_key_specs(specs: Sequence[str] | None) -> dict[str, Path]:
    """``["DE-Berlin=keys/berlin.pub"]`` -> ``{"DE-Berlin": Path("keys/berlin.pub")}``."""
    out: dict[str, Path] = {}
    for spec in specs or []:
        site, sep, path = spec.partition("=")
        if not sep or not site.strip() or not path.strip():
            raise ConfigError(
                f"The --public-key value '{spec}' is not of the form SITE=PUB.pem; for example "
                "--public-key DE-Berlin=keys/DE-Berlin.pub."
            )
        if site.strip() in out:
            raise ConfigError(
                f"--public-key gives two keys for the site '{site.strip()}'. Give one per site."
            )
        out[site.strip()] = Path(path.strip())
    return out


def verify_site_signatures(
    sites: Sequence[dict[str, Any]], paths: Sequence[Path], public_keys: Mapping[str, Any]
) -> None:
    """Check the signature of every site that has a public key; refuse a missing or bad one.

    ``sites`` are the contents read from ``paths`` (hash already checked); ``public_keys``
    maps a site name, as the files state it, to an Ed25519 public key.
    """
    from cryptography.exceptions import InvalidSignature

    by_site: dict[str, list[int]] = {}
    for i, d in enumerate(sites):
        by_site.setdefault(str(d.get("site")), []).append(i)
    for site in public_keys:
        if site not in by_site:
            raise ConfigError(
                f"--public-key gives a key for the site '{site}', but no site file is for that "
                f"site (the files are for {', '.join(repr(s) for s in sorted(by_site))}). "
                "Check the site name's spelling, or add that site's file."
            )
    for site, key in sorted(public_keys.items()):
        for i in by_site[site]:
            path = paths[i]
            sig_path = signature_path(path)
            fingerprint = public_key_sha256(key)[:16]
            try:
                raw = sig_path.read_bytes()
            except FileNotFoundError:
                raise InputError(
                    f"The site file '{path.name}' (site {site!r}) is not signed: there is no "
                    f"'{sig_path.name}' beside it, but --public-key gives a key for {site!r}. "
                    "Ask the site to export with --sign and to send the .sig file with the "
                    "site file."
                ) from None
            except OSError as exc:
                raise InputError(
                    f"Could not read the signature '{sig_path.name}': {exc.strerror}."
                ) from None
            try:
                signature = base64.b64decode(raw.strip(), validate=True)
                key.verify(signature, canonical_bytes(sites[i]))
            except (ValueError, InvalidSignature):
                raise InputError(
                    f"The signature '{sig_path.name}' does not match the site file "
                    f"'{path.name}' (site {site!r}) for the public key given for {site!r} "
                    f"(SHA-256 {fingerprint}...): the file or its signature was altered, or "
                    "another key signed it. Refused: ask the site for its signed original."
                ) from None
