"""Which function a request is for: ``/function/{name}[.{namespace}][:{qualifier}][/sub/path]``
(the qualifier a version number or an alias, as in Lambda) or a Trigger.

Pure and precomputed. ``parse_function_path`` splits the function form (names checked against
DNS-label rules before any lookup). ``TriggerTable`` is rebuilt whenever the Trigger set
changes; a lookup walks the request path's own prefixes from longest to shortest (``/a/b/c``,
``/a/b/``, ``/a/b``, ...), so it costs a few dict lookups however many triggers exist. Within
one prefix, an exact host beats a ``*.suffix`` host beats no host; the method must be allowed.
When Triggers claim the same route (path, host and a common method), only the oldest one is in
the table (``wisp.api.trigger.route_holders``), so every replica routes to the same one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from wisp.api.names import function_key
from wisp.api.trigger import Trigger, path_template, route_holders

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
QUALIFIER_RE = re.compile(r"^(\$LATEST|[1-9][0-9]{0,8}|[A-Za-z][A-Za-z0-9_-]{0,63})$")
FUNCTION_PREFIX = "/function/"


@dataclass(frozen=True)
class FunctionPath:
    name: str
    namespace: str
    subpath: str  # what the runtime sees as the path, always starting with /
    qualifier: str = ""  # a version number or alias; "" is $LATEST

    @property
    def key(self) -> str:
        return function_key(self.name, self.namespace)


def _label(text: str) -> bool:
    return len(text) <= 63 and NAME_RE.match(text) is not None


def parse_function_path(path: str, default_namespace: str) -> FunctionPath | None:
    """The function a ``/function/...`` path names, or None when the names are not DNS labels."""
    head, slash, tail = path[len(FUNCTION_PREFIX) :].partition("/")
    named = _named(head, default_namespace)
    if named is None:
        return None
    name, namespace, _, qualifier = named
    return FunctionPath(name, namespace, "/" + tail if slash else "/", qualifier)


def function_target(path: str, default_namespace: str) -> tuple[str, str] | None:
    """The function key and qualifier a ``/function/...`` path names, as ``parse_function_path``
    reads them (the fast data path's per-call lookup: remembered for the names most called)."""
    named = _named(path[len(FUNCTION_PREFIX) :].partition("/")[0], default_namespace)
    return None if named is None else (named[2], named[3])


# Two DNS labels, a qualifier and their separators: anything longer names nothing (and is not
# remembered by ``_parse_named``, whose memory this bounds).
_LONGEST_HEAD = 63 + 1 + 63 + 1 + 64


def _named(head: str, default_namespace: str) -> tuple[str, str, str, str] | None:
    """``name[.namespace][:qualifier]``: name, namespace, key and qualifier ("" for $LATEST)."""
    return _parse_named(head, default_namespace) if len(head) <= _LONGEST_HEAD else None


@functools.lru_cache(maxsize=4096)
def _parse_named(head: str, default_namespace: str) -> tuple[str, str, str, str] | None:
    head, colon, qualifier = head.partition(":")
    name, dot, namespace = head.partition(".")
    if not dot:
        namespace = default_namespace
    if not _label(name) or not _label(namespace) or (colon and not QUALIFIER_RE.match(qualifier)):
        return None
    return name, namespace, function_key(name, namespace), "" if qualifier == "$LATEST" else qualifier


def parse_lambda_name(
    text: str, default_namespace: str, account_id: str = ""
) -> tuple[FunctionPath, str] | None:
    """The function and qualifier that Lambda's Invoke API's ``FunctionName`` names: ``name``,
    ``name.namespace``, either with ``:qualifier``, or an ARN
    ``arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`` whose account is
    the namespace (``account_id``, when the installation has one, is the default namespace).
    None when it names nothing wisp could hold."""
    if text.startswith("arn:"):
        parts = text.split(":")
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            return None
        account, name = parts[4], parts[6]
        qualifier = parts[7] if len(parts) == 8 else ""
        namespace = default_namespace if account_id and account == account_id else account
        if "." in name:
            return None
    else:
        head, _, qualifier = text.partition(":")
        name, dot, namespace = head.partition(".")
        if not dot:
            namespace = default_namespace
    if not _label(name) or not _label(namespace) or ":" in qualifier:
        return None
    return FunctionPath(name, namespace, "/"), qualifier


@dataclass(frozen=True)
class _Entry:
    trigger: Trigger
    host: str | None  # exact host (lower case), or None
    suffix: str | None  # ".example.com" for "*.example.com"
    methods: frozenset[str]

    @property
    def rank(self) -> int:
        return 0 if self.host is not None else 1 if self.suffix is not None else 2

    def host_matches(self, host: str) -> bool:
        """``host`` is a request's Host, lower-cased: the port and a trailing root dot
        (``api.example.com.``, the same name fully qualified) do not change what it names."""
        if self.host is None and self.suffix is None:
            return True
        name = host.split(":", 1)[0].removesuffix(".")
        if self.host is not None:
            return name == self.host
        return self.suffix is not None and name.endswith(self.suffix)


@dataclass(frozen=True)
class TriggerMatch:
    trigger: Trigger | None
    allowed: tuple[str, ...] = ()  # when the path and host matched but not the method


class TriggerTable:
    """Plain Trigger paths are prefixes; templated ones (``/orders/{id}``, ``/files/{path+}``)
    match whole paths. A request goes to a plain Trigger of exactly its path, else to the
    template that matches it with the most literal segments (a ``{name+}`` one last), else to
    the plain Trigger with the longest prefix."""

    def __init__(self, triggers: Iterable[Trigger]) -> None:
        table: dict[str, list[_Entry]] = {}
        templates: list[tuple[tuple[int, int], re.Pattern[str], _Entry]] = []
        candidates = list(triggers)
        losers = route_holders(candidates)
        for trigger in candidates:
            http = trigger.http
            if http is None or trigger.key in losers:
                continue
            host = (http.host or "").lower()
            entry = _Entry(
                trigger=trigger,
                host=host if host and not host.startswith("*.") else None,
                suffix=host[1:] if host.startswith("*.") else None,
                methods=frozenset(http.methods),
            )
            pattern = path_template(http.path)
            if pattern is None:
                table.setdefault(http.path, []).append(entry)
                continue
            segments = http.path.split("/")
            literal = sum(1 for segment in segments if "{" not in segment)
            templates.append(((-literal, int(http.path.endswith("+}"))), pattern, entry))
        for entries in table.values():
            entries.sort(key=lambda e: (e.rank, e.trigger.key))
        templates.sort(key=lambda t: (t[0], t[2].rank, t[2].trigger.key))
        self._table = table
        self._templates = [(pattern, entry) for _, pattern, entry in templates]

    def __len__(self) -> int:
        return sum(len(v) for v in self._table.values()) + len(self._templates)

    def match(self, host: str, path: str, method: str) -> TriggerMatch:
        if not self._table and not self._templates:
            return TriggerMatch(None)
        host = host.lower()
        allowed: set[str] = set()
        exact = self._table.get(path)
        if exact:
            found = _pick(exact, host, method, allowed)
            if found is not None or allowed:
                return TriggerMatch(found, tuple(sorted(allowed)))
        for pattern, entry in self._templates:
            if pattern.fullmatch(path) is None:
                continue
            found = _pick((entry,), host, method, allowed)
            if found is not None:
                return TriggerMatch(found)
        if allowed:
            return TriggerMatch(None, tuple(sorted(allowed)))
        for prefix in _prefixes(path):
            entries = self._table.get(prefix)
            if not entries or prefix == path:
                continue
            found = _pick(entries, host, method, allowed)
            if found is not None:
                return TriggerMatch(found)
            if allowed:
                return TriggerMatch(None, tuple(sorted(allowed)))
        return TriggerMatch(None)


def _pick(entries: Iterable[_Entry], host: str, method: str, allowed: set[str]) -> Trigger | None:
    """The first entry for ``host`` that takes ``method``; the methods of those that do not
    are added to ``allowed``."""
    for entry in entries:
        if not entry.host_matches(host):
            continue
        if not entry.methods or method in entry.methods:
            return entry.trigger
        allowed |= entry.methods
    return None


def _prefixes(path: str) -> Iterable[str]:
    """``/a/b`` → ``/a/b``, ``/a/``, ``/a``, ``/``: the prefixes that end on a segment boundary."""
    yield path
    end = len(path)
    while True:
        i = path.rfind("/", 0, end)
        if i < 0:
            return
        if i + 1 < len(path) and i + 1 != end:
            yield path[: i + 1]
        if i > 0:
            yield path[:i]
        end = i
        if i == 0:
            return
