"""The loop behind ``failsync run``.

Owns: watching, the work queue, the policy files while running, resync, leader
election and graceful shutdown (``loop``), with the queue (``queue``) and the
policy-file tracker (``policy_files``) as separate concepts.
Never does: decide, render, diff or write by itself: each object goes through
``failsync.sync.SyncEngine.reconcile``, the code ``failsync sync`` runs.
"""

from failsync.controller.loop import Controller, LoopOptions
from failsync.controller.policy_files import PolicyFiles
from failsync.controller.queue import WorkQueue

__all__ = ["Controller", "LoopOptions", "PolicyFiles", "WorkQueue"]
