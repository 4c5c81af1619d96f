"""A signed flat apt repository made in a test, with Debian's own tools: dpkg-deb builds the packages,
dpkg-scanpackages indexes them, gpg signs the Release (InRelease). apt itself then judges what blockprov
wrote (sources, keyrings), so our writer is never its own oracle."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Repo:
    dir: Path
    key: str  # the ASCII-armored public key that signs InRelease


def _deb(work: Path, name: str, version: str, depends: str | None = None) -> Path:
    pkg = work / f"{name}-{version}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/share" / name).mkdir(parents=True)
    (pkg / "usr/share" / name / "hello").write_text(f"{name} {version}\n")
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: blockprov tests "
               f"<tests@example.invalid>\nDescription: blockprov test package\n")
    if depends:
        control += f"Depends: {depends}\n"
    (pkg / "DEBIAN/control").write_text(control)
    out = work / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(out)], check=True,
                   capture_output=True)
    return out


def build(where: Path, packages: list[tuple[str, str]] | None = None) -> Repo:
    """A flat repository (``deb [signed-by=KEY] file:/where ./``) holding ``packages`` (name, version)."""
    where.mkdir(parents=True, exist_ok=True)
    work = where.parent / (where.name + ".work")
    work.mkdir(exist_ok=True)
    for name, version in packages or [("blockprov-hello", "1.0")]:
        deb = _deb(work, name, version)
        os.replace(deb, where / deb.name)
    idx = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=where, check=True,
                         capture_output=True).stdout
    (where / "Packages").write_bytes(idx)
    (where / "Packages.gz").write_bytes(gzip.compress(idx))
    lines = ["Origin: blockprov-tests", "Label: blockprov-tests", "Suite: tests", "Codename: tests",
             "Date: Sat, 05 Dec 2026 00:00:00 UTC", "SHA256:"]
    for f in ("Packages", "Packages.gz"):
        data = (where / f).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {f}")
    (where / "Release").write_text("\n".join(lines) + "\n")
    # a short home: gpg-agent's socket path must fit in 108 bytes, which a pytest tmp path may not
    home = tempfile.mkdtemp(prefix="bp-gpg-")
    gpg = ["gpg", "--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run([*gpg, "--quick-gen-key", "blockprov tests <tests@example.invalid>", "ed25519", "sign",
                        "never"], check=True, capture_output=True)
        subprocess.run([*gpg, "--yes", "--clearsign", "-o", str(where / "InRelease"), str(where / "Release")],
                       check=True, capture_output=True)
        key = subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    return Repo(where, key)
