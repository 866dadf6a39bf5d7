"""The Kubernetes client adapter: the only package that imports pykube-ng or requests.

Owns: kubeconfig/context/in-cluster configuration, the kinds' REST names, LIST/WATCH/
PATCH/POST/DELETE calls, and converting client exceptions into
``failsync.errors.ApiError`` subclasses (with ``raise ... from``).
Never does: decide weights, render, or diff (that is ``failsync.core``).
"""

from failsync.kube.client import Discovery, KubeClient, ObjectList, WatchEvent, load_config
from failsync.kube.resources import (ENDPOINT_SLICES, ENDPOINTS, EVENTS, ROUTES, SERVICES, SMI_GROUP,
                                     TRAFFIC_SPLITS, Resource)

__all__ = ["Discovery", "KubeClient", "ObjectList", "WatchEvent", "load_config", "Resource",
           "SMI_GROUP", "TRAFFIC_SPLITS", "ROUTES", "ENDPOINT_SLICES", "ENDPOINTS", "SERVICES", "EVENTS"]
