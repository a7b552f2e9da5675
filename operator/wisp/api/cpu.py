"""How a function pod gets the CPU its memory entitles it to: ``spec.cpuMode``, or the
installation's default (the operator's ``WISP_FUNCTION_CPU_MODE``, chart ``functions.cpu.mode``).
The Deployment builder (``wisp.resources.deployment``) turns the mode into requests, limits and
the resize annotation; docs/autoscaling.md has what each costs."""

from __future__ import annotations

import enum


class CpuMode(enum.Enum):
    LIMIT = "limit"  # limit = the proportional CPU (request half of it): start-up is throttled too
    REQUEST = "request"  # request = the proportional CPU, no limit: it may use any idle CPU, always
    BOOST = "boost"  # limit = the boost until Ready, then resized in place to the proportional CPU
