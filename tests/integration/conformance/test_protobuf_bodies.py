"""kubectl create deployment / service / serviceaccount post protobuf bodies (typed clients), and
the sandbox accepts them as kube-apiserver does for built-in kinds: the stored objects carry what
the command asked for (replicas, selector, container image and port; Service ports, selector, type)
and what the server allocates (a Service's cluster IP in 10.96.0.0/12 and node ports in
30000-32767, kept by a PUT that leaves them out)."""
from __future__ import annotations

import ipaddress

from tests.integration.conformance.support import call


def test_kubectl_create_deployment_sends_protobuf_and_is_stored(kubectl, api, namespace):
    result = kubectl("-n", namespace, "create", "deployment", "web", "--image=nginx:1", "--port=8080",
                     "--replicas=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deployment.apps/web created"
    stored = call(api, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/web").json()
    assert stored["spec"]["replicas"] == 2
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["ports"]) == ("nginx", "nginx:1",
                                                                          [{"containerPort": 8080}])


def test_kubectl_create_service_sends_protobuf_and_is_stored(kubectl, api, namespace):
    result = kubectl("-n", namespace, "create", "service", "nodeport", "web", "--tcp=80:8080")
    assert result.returncode == 0, result.stderr
    stored = call(api, "GET", f"/api/v1/namespaces/{namespace}/services/web").json()
    assert stored["spec"]["type"] == "NodePort" and stored["spec"]["selector"] == {"app": "web"}
    [port] = stored["spec"]["ports"]
    assert 30000 <= port.pop("nodePort") <= 32767
    assert port == {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}
    spec = stored["spec"]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    assert (spec["clusterIPs"], spec["ipFamilies"], spec["ipFamilyPolicy"], spec["externalTrafficPolicy"]) == (
        [spec["clusterIP"]], ["IPv4"], "SingleStack", "Cluster")


def test_a_put_without_the_allocated_cluster_ip_keeps_it(kubectl, api, namespace):
    assert kubectl("-n", namespace, "create", "service", "clusterip", "api", "--tcp=80:8080").returncode == 0
    path = f"/api/v1/namespaces/{namespace}/services/api"
    stored = call(api, "GET", path).json()
    replaced = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": namespace},
                "spec": {"ports": [{"port": 81}]}}
    response = call(api, "PUT", path, body=replaced)
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["clusterIP"] == stored["spec"]["clusterIP"]


def test_kubectl_create_serviceaccount_is_stored_and_listed(kubectl, api, namespace):
    result = kubectl("-n", namespace, "create", "serviceaccount", "web")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "serviceaccount/web created"
    assert call(api, "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/web").status_code == 200
    listed = kubectl("-n", namespace, "get", "sa")
    assert listed.stdout.split("\n")[0].split() == ["NAME", "SECRETS", "AGE"]
    assert listed.stdout.split("\n")[1].split()[:2] == ["web", "0"]
