"""What the fast data path (``wisp.gateway.fastpath``) knows of a request, and how a layer that
guards the invocation app with a middleware decides on such a request without aiohttp.

The security layer (above the gateway) registers a ``FastGuard`` on ``Components``: its
``admit`` makes the same decision as its middleware for the calls it can decide from the head
alone, and returns None for the others (the fast path then hands the connection to aiohttp,
where the middleware decides). A middleware without a ``FastGuard`` turns the fast path off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict


@dataclass(slots=True)
class FastHead:
    """A request head the fast path took: an HTTP/1.1 call to ``/function/...``."""

    method: str
    target: str  # the request target as sent: path and query
    path: str  # the target's path: percent-free (equal to aiohttp's decoded path), but for the
    # Invoke API's, whose function name is decoded by the call's plan
    headers: CIMultiDict[str]
    peer: str  # the connection's peer address
    host: str  # the Host header
    scheme: str
    keep_alive: bool


@dataclass(slots=True)
class Admitted:
    """A call the guard lets through: the headers the gateway sees (as the middleware would
    have cleaned them), the caller's address, and what to call once the call is over."""

    headers: CIMultiDict[str]
    client: str
    leave: Callable[[], None] | None = None
    # A call whose credentials cover its body (a signature): the body, once in, is checked
    # here before the call is served; a refusal is its answer.
    verify: Callable[[bytes], web.Response | None] | None = None


# (head, function key "name.namespace", decoded path) -> admitted, refused, or None: "needs
# the full request" (served by aiohttp and the middleware).
Admit = Callable[[FastHead, str, str], Admitted | web.Response | None]


@dataclass(frozen=True)
class FastGuard:
    middleware: Middleware  # the middleware ``admit`` stands in for on the fast path
    admit: Admit
