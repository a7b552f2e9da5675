"""wisp: Kubernetes-native functions.

Subpackages, lowest layer first: ``api`` (parsed Function/Trigger specs, pure), ``resources``
(child manifests built from them, pure), ``autoscaler`` (scaling decisions, pure, plus the loop
that applies them), ``controller`` (the kopf operator), ``gateway`` (data plane), ``queue``
(events over Redis Streams), ``cli`` (the ``wisp`` command).
"""

from wisp.api.names import API_VERSION, GROUP, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION", "__version__"]
__version__ = "0.1.0"
