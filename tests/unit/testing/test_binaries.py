from pathlib import Path

import pytest

from jupyternetes_operator.testing import binaries


def test_cache_root_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTERNETES_CACHE_DIR", str(tmp_path / "c"))
    assert binaries.cache_root() == tmp_path / "c"
    monkeypatch.delenv("JUPYTERNETES_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert binaries.cache_root() == tmp_path / "x" / "jupyternetes"


def test_cache_key_changes_with_toolchain_and_names_version() -> None:
    kubernetes = next(c for c in binaries.COMPONENTS if c.name == "kubernetes")
    a = binaries.component_dir(kubernetes, "go1.26.8")
    b = binaries.component_dir(kubernetes, "go1.26.9")
    assert a != b
    assert a.name.startswith(f"kubernetes-{binaries.KUBERNETES_VERSION}-")
    assert a == binaries.component_dir(kubernetes, "go1.26.8")


def test_kubernetes_version_is_stamped() -> None:
    flags = binaries._kubernetes_ldflags("v1.36.3")
    assert "k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "version.gitMajor=1" in flags
    assert "version.gitMinor=36" in flags


def test_consumer_modules_pin_the_declared_versions() -> None:
    for component in binaries.COMPONENTS:
        gomod = (component.module_dir / "go.mod").read_text()
        assert component.version in gomod, component.name
        assert (component.module_dir / "go.sum").stat().st_size > 0
