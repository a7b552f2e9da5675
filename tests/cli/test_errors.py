"""What ``wisp`` prints when the gateway or the console answers with an error or not at all."""

from __future__ import annotations

import io
import urllib.error
from email.message import Message

import pytest

from wisp.cli.errors import CliError, reaching


def _answer(code: int, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://gw/x", code, "error", Message(), io.BytesIO(body))


@pytest.mark.parametrize(
    ("failure", "line"),
    [
        (_answer(404, b'{"message": "no dead letter 7"}'), "the gateway answered 404: no dead letter 7"),
        (_answer(400, b'{"error": "bad since"}'), "the gateway answered 400: bad since"),
        (_answer(500, b'{"errorMessage": "boom"}'), "the gateway answered 500: boom"),
        (_answer(502, b"<html>bad gateway</html>"), "the gateway answered 502: <html>bad gateway</html>"),
        (
            _answer(401, b'{"error": "missing token"}'),
            "the gateway answered 401: missing token (pass --token or set WISP_ADMIN_TOKEN)",
        ),
        (
            _answer(403, b'{"error": "Forbidden", "message": "the admin token does not match"}'),
            "the gateway answered 403: the admin token does not match (pass --token or set WISP_ADMIN_TOKEN)",
        ),
        (
            _answer(403, b'{"message": "system:serviceaccount:a:ci may not patch functions.wisp.dev"}'),
            "the gateway answered 403: system:serviceaccount:a:ci may not patch functions.wisp.dev",
        ),
        (
            urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
            "cannot reach the gateway at http://gw ([Errno 111] Connection refused): start it",
        ),
        (TimeoutError("timed out"), "cannot reach the gateway at http://gw (timed out): start it"),
    ],
)
def test_a_failed_request_becomes_one_line(failure: Exception, line: str) -> None:
    with pytest.raises(CliError) as raised, reaching("gateway", "http://gw", "start it"):
        raise failure
    assert str(raised.value) == line
