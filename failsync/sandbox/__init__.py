"""The sandbox: a local Kubernetes-compatible API server over real HTTP.

Used by the test suite, the benchmarks and ``failsync demo``; pykube-ng and
kubectl talk to it unchanged. It is its own world: it imports nothing of
failsync above ``failsync.core`` (and needs none of it).
"""
