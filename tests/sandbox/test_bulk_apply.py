"""``Cluster.apply_many`` (the bench's bulk set-up) stores exactly what ``Cluster.apply`` stores.

Covers: the bench's own workload (namespaces, Deployments, Services, the floor's TrafficSplits
and HTTPRoutes, and the simulator's Endpoints, EndpointSlices and Deployment status with their
managedFields) applied both ways on two clusters: every stored object is equal once the values
that are random or clock-dependent by design (uids, timestamps, resourceVersions) are replaced
by what they name; a second pass (replace, not create) too.
"""

from __future__ import annotations

import json
import re

from bench import fixtures
from failsync.sandbox.cluster import Cluster

TIMESTAMP = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"')


def _workload() -> list[dict]:
    policies = fixtures.make_policies(6, "fs") + fixtures.make_policies(3, "rt", kind="HTTPRoute")
    remote = fixtures.make_policies(2, "rf", remote="east")
    return ([obj for p in policies + remote for obj in fixtures.cluster_objects(p)]
            + [fixtures.split_object(p) for p in policies])


def _normalised(cluster: Cluster) -> dict[str, dict]:
    """Every stored object by store key and namespace/name, its uids replaced by the name of the
    object they belong to, its timestamps and resourceVersions blanked."""
    objects = {f"{key}:{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}": obj
               for key in cluster.store.kinds() for obj in cluster.store.all_of(key)}
    uids = {obj["metadata"]["uid"]: name for name, obj in objects.items()}
    normalised = {}
    for name, obj in objects.items():
        text = json.dumps(obj, sort_keys=True)
        for uid, owner in uids.items():
            text = text.replace(uid, f"uid-of-{owner}")
        text = TIMESTAMP.sub('"T"', text)
        value = json.loads(text)
        value["metadata"].pop("resourceVersion")
        normalised[name] = value
    return normalised


def test_apply_many_stores_what_apply_stores() -> None:
    one_by_one, in_bulk = Cluster("one"), Cluster("bulk")
    for obj in _workload():
        one_by_one.apply(obj)
    assert in_bulk.apply_many(_workload()) == len(_workload())
    expected = _normalised(one_by_one)
    assert any(key.startswith("discovery/endpointslices:") for key in expected)
    assert any(obj["metadata"].get("managedFields") for obj in expected.values())
    assert _normalised(in_bulk) == expected

    # Applied again with a change: the replace path (update) agrees as well.
    changed = _workload()
    for obj in changed:
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 0
    for obj in changed:
        one_by_one.apply(obj)
    in_bulk.apply_many(json.loads(json.dumps(changed)))
    assert _normalised(in_bulk) == _normalised(one_by_one)
    assert one_by_one.store.revision == in_bulk.store.revision
