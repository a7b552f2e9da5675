"""The one way wisp's processes get a Kubernetes client.

A kubeconfig file when one is named; otherwise the pod's service account when running in a
cluster; otherwise the default kubeconfig (``$KUBECONFIG``, ``~/.kube/config``), as kubectl
does. The operator, the gateway and the ``wisp`` command all start here.
"""

from __future__ import annotations

from kubernetes import client, config


def load_api_client(kubeconfig: str | None = None, *, context: str | None = None) -> client.ApiClient:
    """A client for ``kubeconfig`` (and ``context``), else in-cluster, else the default kubeconfig.

    Raises ``kubernetes.config.ConfigException`` when none of them is there.
    """
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig, context=context)
    if context is None:
        try:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        except config.ConfigException:
            pass
    return config.new_client_from_config(context=context)
