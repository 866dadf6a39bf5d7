"""Drop-in mode: which changes of a hand-written object can change the policy it stands for.

Covers:
- weights (a TrafficSplit's backends, a route's backendRefs), status and the metadata the
  server keeps leave the adoption view as it is: such a version needs no new adoption;
- the primary annotation, the selected labels, the backends, their order, a route's
  backendRef names and parent, the apiVersion change it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from failsync.core.adoption import adopt, adopt_route, adoption_view
from tests.core.test_adoption import GUIDE

ROUTE = yaml.safe_load((Path(__file__).parent.parent / "fixtures" / "hand-written-httproute.yaml").read_text())


def edited(obj: dict, change: Callable[[dict], Any]) -> dict:
    copied = copy.deepcopy(obj)
    change(copied)
    return copied


def _split_weights(obj: dict) -> None:
    for backend in obj["spec"]["backends"]:
        backend["weight"] = 1 - backend["weight"]


def _route_weights(obj: dict) -> None:
    for rule in obj["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            ref["weight"] = 7


def _server_writes(obj: dict) -> None:
    obj["metadata"].update(resourceVersion="42", generation=3, managedFields=[{"manager": "failsync"}])
    obj["status"] = {"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]}


@pytest.mark.parametrize(("obj", "change"), [(GUIDE, _split_weights), (ROUTE, _route_weights),
                                             (GUIDE, _server_writes), (ROUTE, _server_writes)])
def test_weights_status_and_server_metadata_leave_the_view_alone(obj: dict, change: Callable[[dict], Any]) -> None:
    assert adoption_view(edited(obj, change)) == adoption_view(obj)


def _primary(obj: dict) -> None:
    obj["metadata"]["annotations"]["failover.linkerd.io/primary-service"] = "web-svc-east"


def _label(obj: dict) -> None:
    obj["metadata"]["labels"] = {}


def _new_backend(obj: dict) -> None:
    obj["spec"]["backends"].append({"service": "web-svc-central", "weight": 0})


def _order(obj: dict) -> None:
    obj["spec"]["backends"].reverse()


def _version(obj: dict) -> None:
    obj["apiVersion"] = "split.smi-spec.io/v1alpha1"


def _route_backend(obj: dict) -> None:
    obj["spec"]["rules"][0]["backendRefs"][0]["name"] = "web-svc-v2"


def _route_parent(obj: dict) -> None:
    obj["spec"]["parentRefs"][0]["name"] = "web-apex"


@pytest.mark.parametrize(("obj", "change"), [(GUIDE, _primary), (GUIDE, _label), (GUIDE, _new_backend), (GUIDE, _order),
                                             (GUIDE, _version), (ROUTE, _route_backend), (ROUTE, _route_parent)])
def test_what_adoption_reads_changes_the_view(obj: dict, change: Callable[[dict], Any]) -> None:
    assert adoption_view(edited(obj, change)) != adoption_view(obj)


def test_a_version_with_the_same_view_is_the_same_policy() -> None:
    assert adopt(edited(GUIDE, _split_weights)) == adopt(GUIDE)
    assert adopt_route(edited(ROUTE, _route_weights)) == adopt_route(ROUTE)
