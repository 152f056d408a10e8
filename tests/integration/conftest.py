import pytest

from jupyternetes_operator.testing.binaries import ensure_helm

from .helm import Helm


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The pinned ``helm``, built from Go modules on first use and cached by version."""
    return Helm(ensure_helm(), tmp_path_factory.mktemp("helm-home"))
