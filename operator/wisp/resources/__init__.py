"""Child objects of a Function, built by pure functions.

Each builder takes a parsed ``wisp.api.Function`` (plus settings) and returns the manifest as a
plain dict, ready for the API; no kopf, no I/O. The operator applies them, the Helm chart's
tests and the unit tests compare them whole.
"""

from wisp.resources.configmap import CodeTooLarge, make_code_configmap
from wisp.resources.deployment import ImageSettings, make_deployment
from wisp.resources.names import Names, function_labels
from wisp.resources.service import make_service

__all__ = [
    "CodeTooLarge",
    "ImageSettings",
    "Names",
    "function_labels",
    "make_code_configmap",
    "make_deployment",
    "make_service",
]
