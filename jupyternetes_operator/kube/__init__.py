"""The Kubernetes client layer: the only code that speaks HTTP to the API server."""
