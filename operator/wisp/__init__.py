"""wisp: Kubernetes-native functions.

Packages, highest layer first (each imports only those below it; ``lint-imports`` checks the
``layers`` contract in pyproject.toml, docs/architecture.md explains it): ``cli`` (the ``wisp``
command), ``dev`` (``wisp dev``), ``startup`` (starting a gateway process), ``console`` and
``queue`` (extensions of the gateway app), ``security``, ``gateway`` (data plane) and
``controller`` (the kopf operator), ``autoscaler``, then the ground: ``resources`` (child
manifests, pure), ``launcher``, ``reaper``, ``kubeconfig``, ``source`` (manifests from files),
and ``api`` (parsed specs and the names they go by, pure).
"""

__version__ = "0.1.0"
