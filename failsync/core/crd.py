"""The ``failoverpolicies.failsync.io`` CustomResourceDefinition (SPEC §13), built from the field table.

Owns: the CRD object ``failsync crd`` prints and ``deploy/crd.yaml`` holds: apiextensions
v1, one served and stored version v1alpha1, namespaced, short name ``fop``, printer
columns and the status subresource. Its schema is ``policy_fields.openapi_schema()``, the
same table the file validator reads.
"""

from __future__ import annotations

from typing import Any

from failsync.core.model import POLICY_API_VERSION, POLICY_KIND
from failsync.core.policy_fields import openapi_schema

GROUP, VERSION = POLICY_API_VERSION.split("/")
PLURAL = "failoverpolicies"
SHORT_NAME = "fop"
CRD_NAME = f"{PLURAL}.{GROUP}"

PRINTER_COLUMNS = (
    {"name": "Primary", "type": "string", "jsonPath": ".status.primary"},
    {"name": "Active", "type": "string", "jsonPath": ".status.activeBackends",
     "description": "Backends carrying traffic"},
    {"name": "State", "type": "string", "jsonPath": ".status.state"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def failover_policy_crd() -> dict[str, Any]:
    """The CRD as a plain object (apiextensions.k8s.io/v1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/name": "failsync"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": POLICY_KIND.lower(), "kind": POLICY_KIND,
                      "listKind": f"{POLICY_KIND}List", "shortNames": [SHORT_NAME], "categories": ["failsync"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": openapi_schema()},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [dict(column) for column in PRINTER_COLUMNS],
            }],
        },
    }
