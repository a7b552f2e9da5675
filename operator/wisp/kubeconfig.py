"""The one way wisp's processes get a Kubernetes client.

A kubeconfig file when one is named; otherwise the pod's service account when running in a
cluster; otherwise the default kubeconfig (``$KUBECONFIG``, ``~/.kube/config``), as kubectl
does. The operator, the gateway and the ``wisp`` command all start here.
"""

from __future__ import annotations

from kubernetes import client, config

# Connections kept open to the API server: a long-lived process holds one per watch and one per
# request in flight (the gateway's API calls run in up to API_THREADS threads at once, beside a
# dozen watches); the client's default (5 per CPU) would open and discard a TLS connection per
# request past it under load.
CONNECTIONS = 64


def load_api_client(kubeconfig: str | None = None, *, context: str | None = None) -> client.ApiClient:
    """A client for ``kubeconfig`` (and ``context``), else in-cluster, else the default kubeconfig.

    Raises ``kubernetes.config.ConfigException`` when none of them is there.
    """
    cfg = client.Configuration()
    cfg.connection_pool_maxsize = CONNECTIONS
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        return client.ApiClient(cfg)
    if context is None:
        try:
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        except config.ConfigException:
            pass
    config.load_kube_config(context=context, client_configuration=cfg)
    return client.ApiClient(cfg)
