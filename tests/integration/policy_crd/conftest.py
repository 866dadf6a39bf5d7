"""Fixtures for FailoverPolicy objects: the CRD of deploy/crd.yaml installed with kubectl."""
from __future__ import annotations

from pathlib import Path

import pytest

from failsync.core.crd import CRD_NAME
from tests.helpers import wait_for
from tests.integration.conformance.support import call

REPOSITORY = Path(__file__).resolve().parents[3]
#: The namespace the policy fixtures name.
NAMESPACE = "emojivoto"


@pytest.fixture(scope="module")
def installed(sandbox, kubectl, api):
    """The CRD from deploy/crd.yaml, applied with kubectl and Established; the fixtures' namespace exists."""
    done = kubectl("apply", "-f", str(REPOSITORY / "deploy" / "crd.yaml"))
    assert done.returncode == 0, done.stderr

    def established() -> bool:
        crd = call(api, "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}").json()
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in crd.get("status", {}).get("conditions", ()))

    wait_for(established)
    call(api, "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": NAMESPACE}})
    return api
