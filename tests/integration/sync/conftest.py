"""Fixtures for the sync tests: the guide's two clusters with emojivoto installed and east's
`web-svc` exported, so the sandbox's service mirror (gateway mode, as Linkerd's) makes west's
`web-svc-east`, ready while east's gateway runs."""
from __future__ import annotations

import pytest

from tests.helpers import wait_for
from tests.integration.sync.support import install_emojivoto


def ready_count(cluster, ns: str, name: str) -> int:
    endpoints = cluster.get("v1", "Endpoints", ns, name) or {}
    return sum(len(s.get("addresses") or []) for s in endpoints.get("subsets") or [])


@pytest.fixture(scope="module")
def guide(sandbox):
    """west and east with emojivoto; west/web-svc-east, the mirror of east/web-svc, ready. Returns the sandbox."""
    install_emojivoto(sandbox["west"])
    install_emojivoto(sandbox["east"])
    sandbox.export("east", "emojivoto", "web-svc")
    wait_for(lambda: ready_count(sandbox["west"], "emojivoto", "web-svc") == 1, message="west web-svc ready")
    wait_for(lambda: ready_count(sandbox["west"], "emojivoto", "web-svc-east") == 1,
             message="west web-svc-east (mirror) ready")
    return sandbox
