"""The JupyterHub spawner. It runs inside the hub and imports only ``kube``."""
