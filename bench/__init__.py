"""Benchmarks (not shipped in the wheel); see bench/README.md."""

from importlib.metadata import PackageNotFoundError, version


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None (recorded beside every result)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None
