"""Without the FailoverPolicy CRD, `failsync get` and `status --source cluster` say to install it.

Covers: exit code 2, one line on stderr naming failoverpolicies.failsync.io and the command
that installs the CRD, no traceback.
"""
from __future__ import annotations

import pytest

from tests.integration.sync.support import failsync


@pytest.mark.parametrize("args", [("get",), ("status", "--source", "cluster")], ids=["get", "status"])
def test_a_cluster_without_the_crd_is_told_to_install_it(sandbox, args: tuple[str, ...]) -> None:
    result = failsync(sandbox.kubeconfig, *args)
    assert result.exit_code == 2, result.output
    assert "failoverpolicies.failsync.io" in result.stderr
    assert "is the FailoverPolicy CRD installed? (failsync crd | kubectl apply -f -)" in result.stderr
    assert "Traceback" not in result.output
