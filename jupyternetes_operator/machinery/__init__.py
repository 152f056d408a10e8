"""Generic controller machinery (watch, informer store, work queue, controller, leader
election). It knows nothing of Jupyter and never imports ``reconcile`` or ``spawner``."""
