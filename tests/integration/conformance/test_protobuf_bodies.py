"""kubectl create deployment / service post protobuf bodies (typed clients), and the sandbox
accepts them as kube-apiserver does for built-in kinds: the stored objects carry what the
command asked for (replicas, selector, container image and port; Service ports, selector, type)."""
from __future__ import annotations

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
    assert stored["spec"]["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
