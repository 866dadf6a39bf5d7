"""Workload simulator and per-kind rules, driven in-process (no HTTP).

Covers: Deployment status and Endpoints/EndpointSlice follow replicas synchronously with no
readiness delay and after the delay otherwise; deleting a Service removes its Endpoints and
slice; selector-less Service Endpoints are mirrored into a slice managed by the mirroring
controller; TrafficSplit stored once and served at every version with conversion None (apiVersion
rewritten, weights as written; fields a version lacks pruned on read);
Deployment generation bumps on spec changes only; events.k8s.io view of core Events;
a Service follows exactly the Deployments its whole selector matches, in its namespace, through
relabels, deletes and selector changes; objects handed to or returned by apply/get/list are
copies, so editing them never changes stored state.
"""

from failsync.sandbox import Cluster
from failsync.sandbox.simulator import MANAGED_BY_LABEL, MIRROR_CONTROLLER, SLICE_CONTROLLER
from tests.helpers import wait_for


def deployment(replicas, name="web"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": name}]}}}}


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc", "namespace": "shop"},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def ready_addresses(cluster, name="web-svc"):
    endpoints = cluster.get("v1", "Endpoints", "shop", name) or {}
    return [a["ip"] for s in endpoints.get("subsets", []) for a in s.get("addresses", [])]


def slice_endpoints(cluster, name="web-svc"):
    slices = [s for s in cluster.list("discovery.k8s.io/v1", "EndpointSlice", "shop")
              if s["metadata"]["labels"]["kubernetes.io/service-name"] == name]
    return slices, [e for s in slices for e in s["endpoints"]]


def test_endpoints_follow_replicas_immediately_without_delay():
    cluster = Cluster("c")
    cluster.apply(deployment(3))
    cluster.apply(SERVICE)
    assert len(ready_addresses(cluster)) == 3
    slices, endpoints = slice_endpoints(cluster)
    assert slices[0]["metadata"]["labels"][MANAGED_BY_LABEL] == SLICE_CONTROLLER
    assert len(endpoints) == 3 and slices[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert cluster.get("apps/v1", "Deployment", "shop", "web")["status"]["readyReplicas"] == 3
    cluster.apply(deployment(0))
    assert ready_addresses(cluster) == [] and slice_endpoints(cluster)[1] == []
    assert "readyReplicas" not in cluster.get("apps/v1", "Deployment", "shop", "web")["status"]


def labelled(name, replicas, labels, namespace="shop"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": name}]}}}}


def service(name, selector, namespace="shop"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"port": 80}]}}


def test_services_follow_exactly_the_deployments_their_whole_selector_matches():
    cluster = Cluster("c")
    cluster.apply(labelled("web-a", 1, {"app": "web", "track": "a"}))
    cluster.apply(labelled("web-b", 2, {"app": "web", "track": "b"}))
    cluster.apply(labelled("web-other-ns", 4, {"app": "web", "track": "a"}, namespace="other"))
    cluster.apply(service("all", {"app": "web"}))
    cluster.apply(service("only-a", {"app": "web", "track": "a"}))
    assert (len(ready_addresses(cluster, "all")), len(ready_addresses(cluster, "only-a"))) == (3, 1)
    cluster.apply(labelled("web-b", 2, {"app": "web", "track": "a"}))  # relabel: b now counts for only-a
    assert (len(ready_addresses(cluster, "all")), len(ready_addresses(cluster, "only-a"))) == (3, 3)
    cluster.apply(labelled("web-b", 2, {"app": "api"}))  # relabel away: both services lose it
    assert (len(ready_addresses(cluster, "all")), len(ready_addresses(cluster, "only-a"))) == (1, 1)
    cluster.apply(service("only-a", {"app": "api"}))  # a selector change re-targets the service
    assert len(ready_addresses(cluster, "only-a")) == 2
    cluster.delete("apps/v1", "Deployment", "shop", "web-a")
    assert (ready_addresses(cluster, "all"), len(ready_addresses(cluster, "only-a"))) == ([], 2)


def test_readiness_delay_holds_new_replicas_back_until_it_passes():
    cluster = Cluster("c", readiness_delay=0.2)
    cluster.apply(SERVICE)
    cluster.apply(deployment(2))
    assert ready_addresses(cluster) == []
    wait_for(lambda: len(ready_addresses(cluster)) == 2, message="replicas ready")
    cluster.apply(deployment(1))
    assert len(ready_addresses(cluster)) == 1


def test_deleting_a_service_removes_its_endpoints_and_slice():
    cluster = Cluster("c")
    cluster.apply(deployment(1))
    cluster.apply(SERVICE)
    cluster.delete("v1", "Service", "shop", "web-svc")
    assert cluster.get("v1", "Endpoints", "shop", "web-svc") is None
    assert slice_endpoints(cluster)[0] == []


def test_selector_less_service_endpoints_are_mirrored_into_a_slice():
    cluster = Cluster("c")
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "remote", "namespace": "shop"},
                   "spec": {"ports": [{"port": 80}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "remote", "namespace": "shop"},
                   "subsets": [{"addresses": [{"ip": "172.16.0.1"}], "notReadyAddresses": [{"ip": "172.16.0.2"}],
                                "ports": [{"port": 80}]}]})
    slices, endpoints = slice_endpoints(cluster, "remote")
    assert slices[0]["metadata"]["labels"][MANAGED_BY_LABEL] == MIRROR_CONTROLLER
    assert [(e["addresses"], e["conditions"]["ready"]) for e in endpoints] == [
        (["172.16.0.1"], True), (["172.16.0.2"], False)]


def test_trafficsplit_version_change_rewrites_api_version_only():
    """Conversion None, as upstream's CRD: weights read back exactly as written, at any version."""
    cluster = Cluster("c")
    cluster.apply({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
                   "metadata": {"name": "s", "namespace": "shop"},
                   "spec": {"service": "web", "backends": [{"service": "a", "weight": "500m"},
                                                           {"service": "b", "weight": 1}]}})
    v4 = cluster.get("split.smi-spec.io/v1alpha4", "TrafficSplit", "shop", "s")
    assert v4["apiVersion"] == "split.smi-spec.io/v1alpha4"
    assert [b["weight"] for b in v4["spec"]["backends"]] == ["500m", 1]
    cluster.apply({**v4, "spec": {**v4["spec"], "backends": [{"service": "a", "weight": 0},
                                                             {"service": "b", "weight": 100}]}})
    v1 = cluster.get("split.smi-spec.io/v1alpha1", "TrafficSplit", "shop", "s")
    assert v1["apiVersion"] == "split.smi-spec.io/v1alpha1"
    assert [b["weight"] for b in v1["spec"]["backends"]] == [0, 100]


def test_a_field_unknown_to_the_read_version_is_pruned_on_read_only():
    cluster = Cluster("c")
    cluster.apply({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
                   "metadata": {"name": "s", "namespace": "shop"},
                   "spec": {"service": "web", "backends": [{"service": "a", "weight": 1}],
                            "matches": [{"kind": "HTTPRouteGroup", "name": "g"}]}})
    assert "matches" not in cluster.get("split.smi-spec.io/v1alpha2", "TrafficSplit", "shop", "s")["spec"]
    assert cluster.get("split.smi-spec.io/v1alpha3", "TrafficSplit", "shop", "s")["spec"]["matches"]


def test_deployment_generation_bumps_on_spec_change_only():
    cluster = Cluster("c")
    first = cluster.apply(deployment(1))
    assert first["metadata"]["generation"] == 1
    same = cluster.apply(deployment(1))
    assert same["metadata"]["generation"] == 1
    labelled = deployment(1)
    labelled["metadata"]["labels"] = {"x": "y"}
    assert cluster.apply(labelled)["metadata"]["generation"] == 1
    assert cluster.apply(deployment(2))["metadata"]["generation"] == 2


def test_core_events_are_served_as_events_k8s_io():
    cluster = Cluster("c")
    cluster.apply({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "shop"},
                   "involvedObject": {"kind": "TrafficSplit", "name": "s"}, "message": "moved", "reason": "Failover"})
    view = cluster.get("events.k8s.io/v1", "Event", "shop", "e")
    assert (view["note"], view["regarding"]["name"], view["reason"]) == ("moved", "s", "Failover")


def test_editing_objects_from_apply_get_or_list_never_changes_the_stored_object():
    cluster = Cluster("c")
    applied = {"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
               "metadata": {"name": "s", "namespace": "shop", "labels": {"team": "a"}},
               "spec": {"service": "web", "backends": [{"service": "a", "weight": 1}]}}
    returned = cluster.apply(applied)
    revision = returned["metadata"]["resourceVersion"]
    got = cluster.get("split.smi-spec.io/v1alpha4", "TrafficSplit", "shop", "s")
    listed = cluster.list("split.smi-spec.io/v1alpha4", "TrafficSplit", "shop")[0]
    for obj in (applied, returned, got, listed):
        obj["spec"]["backends"][0]["weight"] = 99
        obj["metadata"]["labels"]["team"] = "changed"
    stored = cluster.get("split.smi-spec.io/v1alpha4", "TrafficSplit", "shop", "s")
    assert stored["spec"]["backends"] == [{"service": "a", "weight": 1}]
    assert stored["metadata"]["labels"] == {"team": "a"}
    assert stored["metadata"]["resourceVersion"] == revision
