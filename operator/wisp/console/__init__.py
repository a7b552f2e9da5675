"""wisp's web console: the server side of ``/ui/`` (static app and JSON API).

``add_console_routes(app, source)`` mounts it on an aiohttp app; ``DevSource`` (``wisp dev``)
and ``ClusterSource`` (Kubernetes API) are the two ``ConsoleSource`` implementations; usage math
(GB-seconds per function per hour/day, CSV) lives in ``usage``.
"""

from wisp.console.dev import DevHooks, DevSource
from wisp.console.live import GatewayView
from wisp.console.logs import LogBook
from wisp.console.routes import add_console_routes, console_extension
from wisp.console.source import ConsoleSource, Mode

__all__ = [
    "ConsoleSource",
    "DevHooks",
    "DevSource",
    "GatewayView",
    "LogBook",
    "Mode",
    "add_console_routes",
    "console_extension",
]
