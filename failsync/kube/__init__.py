"""The Kubernetes client adapter: the only package that imports pykube-ng or requests.

Owns: kubeconfig/context/in-cluster configuration, object classes, LIST/WATCH/
PATCH/POST/DELETE calls, and converting client exceptions into
``failsync.errors.ApiError`` subclasses (with ``raise ... from``).
Never does: decide weights, render, or diff (that is ``failsync.core``).
"""
