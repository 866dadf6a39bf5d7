"""The loop behind ``failsync run``.

A small wiring ``Controller`` (``loop``: start-up, resync, leader election, probes,
a bounded shutdown) over separate parts: the incremental policy index (``index``),
the caches (``caches``: one watcher per kind), the reconciler (``reconciler``: the
settled-inputs memo, one reconcile, what follows a write), the work queue
(``queue``) and the policy-file tracker (``policy_files``). Every long-lived thread
runs under ``failsync.supervisor.Supervisor``.
Never does: decide, render, diff or write by itself: each object goes through
``failsync.sync.SyncEngine.reconcile``, the code ``failsync sync`` runs.
"""

from failsync.controller.loop import Controller, LoopOptions
from failsync.controller.policy_files import PolicyFiles
from failsync.controller.queue import WorkQueue

__all__ = ["Controller", "LoopOptions", "PolicyFiles", "WorkQueue"]
