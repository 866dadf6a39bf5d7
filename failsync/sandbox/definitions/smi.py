"""TrafficSplit (split.smi-spec.io), as linkerd-smi ships it plus the SMI spec's later versions.

v1alpha1: weights are integers or Quantity strings (``x-kubernetes-int-or-string``), as in
linkerd-smi's CRD; v1alpha2: integer weights; v1alpha3 and v1alpha4 add ``spec.matches``
(HTTPRouteGroup references). Conversion is None: a version change rewrites apiVersion only,
so weights written at one version read back unchanged at every other. v1alpha1 is the
storage version, as in linkerd-smi; serving v1alpha3/v1alpha4 too is the sandbox's choice.
"""

from __future__ import annotations

from failsync.sandbox.definitions.common import array, crd, obj, root, string, version

_SERVICE_COLUMN = {"name": "Service", "type": "string", "description": "The apex service of this split.",
                   "jsonPath": ".spec.service"}


def _spec(weight: dict, *, matches: bool) -> dict:
    backend = obj({"service": string("Name of the Kubernetes service."), "weight": weight},
                  required=("service", "weight"))
    properties = {"service": string("The apex service of this split."),
                  "backends": array(backend, description="The backend services of this split.")}
    if matches:
        properties["matches"] = array(obj({"kind": string("Kind of the matching group.", enum=["HTTPRouteGroup"]),
                                           "name": string("Name of the matching group.")}, required=("kind", "name")),
                                      description="The HTTP route groups that this traffic split should match.")
    return obj(properties, required=("service", "backends"))


_QUANTITY_WEIGHT = {"description": "Traffic weight value of this backend.", "x-kubernetes-int-or-string": True}
_INTEGER_WEIGHT = {"description": "Traffic weight value of this backend.", "type": "integer"}

TRAFFIC_SPLIT = crd("split.smi-spec.io", "TrafficSplit", "trafficsplits", [
    version("v1alpha1", root(_spec(_QUANTITY_WEIGHT, matches=False)), storage=True, columns=(_SERVICE_COLUMN,)),
    version("v1alpha2", root(_spec(_INTEGER_WEIGHT, matches=False)), columns=(_SERVICE_COLUMN,)),
    version("v1alpha3", root(_spec(_INTEGER_WEIGHT, matches=True)), columns=(_SERVICE_COLUMN,)),
    version("v1alpha4", root(_spec(_INTEGER_WEIGHT, matches=True)), columns=(_SERVICE_COLUMN,)),
], short_names=("ts",), labels={"linkerd.io/extension": "smi"})
