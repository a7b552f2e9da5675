"""Secrets hygiene for logs: no token, signature, Secret value or ``Authorization`` header is
ever written out.

``Redactor`` masks credential-shaped text (``Bearer ...``, ``Authorization: ...``,
``v1=<hex>``, ``token=...``, the user info of ``scheme://user:password@host`` URLs) and every
Secret value it has been told about (the Secret sources announce each value they load).
``redact_url`` masks one URL's user info and secret-looking query values, for URLs that are
kept where users see them (an async invocation's ``callbackUrl``). ``install_redaction`` wraps
the log record factory, so every record of every logger, and its formatted traceback, is masked
before any handler sees it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "[REDACTED]"
MIN_SECRET_CHARS = 6

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{4,}"), rf"\1\2{MASK}"),
    (
        re.compile(
            r"(?i)\b(proxy-authorization|authorization|cookie|set-cookie|x-api-key|x-wisp-signature)"
            r"([\"']?\s*[:=]\s*[\"']?)([^\"'\n]+)"
        ),
        rf"\1\2{MASK}",
    ),
    (re.compile(r"(?i)\bv1=[0-9a-f]{16,}"), f"v1={MASK}"),
    (_URL_USERINFO, rf"\1{MASK}@"),
    (
        re.compile(
            r"(?i)\b(token|secret|password|passwd|api[_-]?key|admin[_-]?token)"
            r"([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
        ),
        rf"\1\2{MASK}",
    ),
)


# Query parameters whose values are credentials in the usual APIs (``?token=``, ``&sig=``, ...).
_SECRET_PARAM = re.compile(r"(?i)(token|secret|passw|pwd|key|sig|auth|credential|session)")


def redact_url(url: str) -> str:
    """``url`` with its user info and secret-looking query values masked; other text unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_USERINFO.sub(rf"\1{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(_redact_param(param) for param in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_param(param: str) -> str:
    name, equals, _ = param.partition("=")
    return f"{name}={MASK}" if equals and _SECRET_PARAM.search(name) else param


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._ordered: tuple[str, ...] = ()

    def add(self, value: bytes | str) -> None:
        """Mask this value (and each of its lines: a token Secret may hold several)."""
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        candidates = {text.strip(), *(line.strip() for line in text.splitlines())}
        new = {c for c in candidates if len(c) >= MIN_SECRET_CHARS} - self._secrets
        if new:
            with self._lock:
                self._secrets |= new
                self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_record(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)


_active: list[Redactor] = []
_installed_lock = threading.Lock()


def _redacting_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for redactor in tuple(_active):
            redactor.redact_record(record)
        return record

    factory.wisp_redacting = True  # type: ignore[attr-defined]
    return factory


def install_redaction(redactor: Redactor) -> Callable[[], None]:
    """Mask every log record with ``redactor`` from now on; returns the function that stops it.

    One record factory serves every active redactor (several apps in one process install and
    remove theirs in any order)."""
    with _installed_lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, "wisp_redacting", False):
            logging.setLogRecordFactory(_redacting_factory(current))
        _active.append(redactor)

    def uninstall() -> None:
        with _installed_lock:
            if redactor in _active:
                _active.remove(redactor)

    return uninstall
