"""The all-namespaces operator across many namespaces: watch connections, RSS per namespace and
sequential spawn latency beside them (``python -m bench.width``; see bench/README.md)."""
