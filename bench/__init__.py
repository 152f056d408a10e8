"""Benchmarks (not shipped in the wheel); see bench/README.md."""
