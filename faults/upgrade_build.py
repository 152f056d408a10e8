"""An earlier commit of this repository built as the operator's "old version": ``git archive`` of the
commit, its version stamped ``<version>+g<commit>`` (so the two builds tell themselves apart),
installed with its runtime dependencies into its own virtualenv beside its ``crds/``, cached outside
the repository keyed by commit (``<cache>/operator-<commit>/``). A second call finds it built; a concurrent one
waits on a file lock. Needs the commit in the checkout's history (CI clones with full history)."""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyternetes_operator.testing.binaries import cache_root

REPOSITORY = Path(__file__).resolve().parents[1]
OLD_COMMIT = "7d57d9e97961e221565be6692895f40cf528946b"
"""The release before the instance's ``UpToDate`` condition and the template's capacity: an operator
whose status lacks a condition the new one writes, and which knows no ``maxInstances``."""


def resolve(commit: str, repository: Path = REPOSITORY) -> str:
    """The full hash of ``commit`` in ``repository``'s history."""
    out = subprocess.run(["git", "-C", str(repository), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def stamped(pyproject: str, commit: str) -> tuple[str, str]:
    """``pyproject`` with its version given the local label ``+g<commit[:12]>``, and that version."""
    match = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    if match is None:
        raise ValueError("no version line in pyproject.toml")
    version = f"{match[1]}+g{commit[:12]}"
    return pyproject[:match.start(1)] + version + pyproject[match.end(1):], version


@dataclass(frozen=True)
class Build:
    """One version of the operator: the interpreter that runs it, the version it reports, its CRDs, and
    the directory its code is imported from."""

    python: Path
    version: str
    crds: Path
    root: Path
    fenced_release: bool
    """Whether its leader hands the Lease back only once its writes in flight have landed (older builds
    may deliver an Event they had in flight after their release)."""


def current() -> Build:
    """The working tree, as this interpreter has it installed."""
    import jupyternetes_operator

    package = Path(jupyternetes_operator.__file__).resolve().parent
    return Build(Path(sys.executable), _version_of(Path(sys.executable)), REPOSITORY / "crds", package,
                 _fenced_release(package))


def old_operator(commit: str = OLD_COMMIT, repository: Path = REPOSITORY) -> Build:
    """``commit`` built (on first use) and cached."""
    full = resolve(commit, repository)
    home = cache_root() / f"operator-{full[:12]}"
    stamp = home / "version"
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            _build(full, repository, home)
        package = next((home / "venv").glob("lib/python*/site-packages/jupyternetes_operator"))
        return Build(home / "venv" / "bin" / "python", stamp.read_text().strip(), home / "crds", home / "venv",
                     _fenced_release(package))


def _fenced_release(package: Path) -> bool:
    return "before_release" in (package / "machinery" / "leader.py").read_text()


def _version_of(python: Path) -> str:
    """What ``jupyternetes-operator --version`` says under ``python`` (isolated: not the checkout's)."""
    return subprocess.run([str(python), "-I", "-m", "jupyternetes_operator", "--version"], check=True,
                          capture_output=True, text=True).stdout.split()[-1]


def _build(commit: str, repository: Path, home: Path) -> None:
    shutil.rmtree(home / "venv", ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="operator-src-") as tmp:
        archive = Path(tmp) / "src.tar"
        subprocess.run(["git", "-C", str(repository), "archive", "--format=tar", f"--output={archive}", commit],
                       check=True)
        source = Path(tmp) / "src"
        with tarfile.open(archive) as tar:
            tar.extractall(source, filter="data")
        pyproject = source / "pyproject.toml"
        text, version = stamped(pyproject.read_text(), commit)
        pyproject.write_text(text)
        subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
        python = home / "venv" / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
                       check=True)
        shutil.rmtree(home / "crds", ignore_errors=True)
        shutil.copytree(source / "crds", home / "crds")
    if (said := _version_of(python)) != version:
        raise RuntimeError(f"the build of {commit} says it is {said}, not {version}")
    (home / "version").write_text(version + "\n")


if __name__ == "__main__":
    print(old_operator(sys.argv[1]) if len(sys.argv) > 1 else old_operator())
