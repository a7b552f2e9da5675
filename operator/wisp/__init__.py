"""wisp: Kubernetes-native functions.

Subpackages, lowest layer first: ``api`` (parsed Function/Trigger specs, pure), ``resources``
(child manifests built from them, pure), ``autoscaler`` (scaling decisions, pure, plus the loop
that applies them), ``controller`` (the kopf operator), ``gateway`` (data plane), ``queue``
(events over Redis Streams), ``cli`` (the ``wisp`` command).
"""

__version__ = "0.1.0"
GROUP = "wisp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
