from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.resources import NAMESPACES, PODS


def test_core_and_group_paths() -> None:
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("ns") == "/api/v1/namespaces/ns/pods"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert INSTANCES.path("ns", "i") == "/apis/jupyternetes.io/v1/namespaces/ns/jupyternotebookinstances/i"
    assert INSTANCES.api_version == "jupyternetes.io/v1"
    assert PODS.api_version == "v1"


def test_cluster_scoped_ignores_namespace() -> None:
    assert NAMESPACES.path("ignored", "n") == "/api/v1/namespaces/n"
    assert Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False).path() == (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles")
