"""Generic controller machinery (watch, informer store, work queue, controller, leader
election, events). It knows nothing of the domain — no group, kind or controller name;
callers pass names in — and never imports ``reconcile`` or ``spawner``."""
