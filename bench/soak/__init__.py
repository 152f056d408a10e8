"""Soak benchmark (issue 16): steady spawn/stop churn around a live set for an hour, sampling the
operator for growth (RSS, fds, asyncio tasks, queues) and every spawn for Ready. See ``bench/README.md``."""
