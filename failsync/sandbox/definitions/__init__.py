"""The CustomResourceDefinitions every sandbox cluster starts with, written for the sandbox
from the upstream specifications (linkerd-smi's TrafficSplit, the Gateway API standard
channel's HTTPRoute and GRPCRoute, Linkerd's policy.linkerd.io HTTPRoute).

Owns: those CRD objects as plain dicts (``default_crds``). Never does: serving them (that is
``crds``). CEL ``x-kubernetes-validations`` rules are kept in the definitions, as upstream
ships them, but the sandbox does not evaluate them.
"""

from __future__ import annotations

import copy

from failsync.sandbox.definitions import gateway, linkerd, smi

_DEFAULTS = (smi.TRAFFIC_SPLIT, gateway.HTTP_ROUTE, gateway.GRPC_ROUTE, linkerd.HTTP_ROUTE)


def default_crds() -> list[dict]:
    """Fresh copies of the CRDs a cluster is seeded with."""
    return copy.deepcopy(list(_DEFAULTS))


__all__ = ["default_crds"]
