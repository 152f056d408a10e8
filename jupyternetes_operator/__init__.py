"""Jupyternetes: JupyterHub notebook servers rendered from templates by a Kubernetes operator.

Layers (each imports only those above it in this list):
``kube`` (HTTP to the API server) < ``machinery`` (informers, queues, leader
election; no Jupyter knowledge) < ``reconcile`` (the domain) < ``manager``/``cli``.
``api`` is the domain's vocabulary, shared by the operator and the spawner; it imports
only ``kube``. ``spawner`` runs inside JupyterHub and imports ``kube``, ``api`` and the
generic ``machinery`` only. ``testing`` is the real-control-plane harness.
"""
