"""Parsed, validated views of wisp's custom resources.

Data comes in as the plain dicts the Kubernetes API (or a Function YAML file) gives and goes out
as frozen dataclasses used by the builders, the operator, the gateway and ``wisp dev``. This
layer imports no kopf, aiohttp or kubernetes.
"""

from wisp.api.function import Function, FunctionSpec, ScaleSpec, SpecError, parse_function
from wisp.api.quantities import parse_duration, parse_memory_mib
from wisp.api.runtimes import Runtime
from wisp.api.trigger import Trigger, parse_trigger

__all__ = [
    "Function",
    "FunctionSpec",
    "Runtime",
    "ScaleSpec",
    "SpecError",
    "Trigger",
    "parse_duration",
    "parse_function",
    "parse_memory_mib",
    "parse_trigger",
]
