"""The Kubernetes side of the gateway: the ``KubernetesBackend`` (watches of Functions, Triggers,
Deployments and function pods; scale and status writes) and ``LeaseCoordination`` (leader election and the
replicas' sample exchange over ``coordination.k8s.io/v1`` Leases). Official ``kubernetes``
client; its blocking calls run in threads and hand results to the event loop."""

from wisp.gateway.kube.backend import KubernetesBackend
from wisp.gateway.kube.coordination import LeaseCoordination

__all__ = ["KubernetesBackend", "LeaseCoordination"]
