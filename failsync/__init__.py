"""failsync: GitOps failover for Kubernetes.

Layers (dependencies point down, never up):

- ``failsync.core``: pure functions and values (policies, health, weights,
  rendering, diffing). No network, disk writes, clock, environment or logging.
- ``failsync.kube``: the only package that imports pykube-ng or requests.
- ``failsync.sync`` (reading: ``failsync.snapshot``, its report: ``failsync.sync_report``) /
  ``failsync.controller``: one pass and the loop, wiring core and kube.
- ``failsync.sandbox``: a local Kubernetes-compatible API server; imports nothing above core.
- ``failsync.cli``: click commands that parse options, call library functions and print.
"""

__version__ = "0.1.0"
