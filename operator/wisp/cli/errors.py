"""``CliError``: a failure the ``wisp`` command prints as one line, with a non-zero exit code.

``reaching`` turns what urllib raises while the command talks to the gateway or the console into
that one line: the server's own message for an error answer (with a hint where a token is
missing), or what to start or pass when nothing answered.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
from collections.abc import Iterator


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def unreachable(exc: OSError, who: str, base: str, remedy: str) -> CliError:
    """Nothing answered at ``base``: say why and what to do (``remedy``)."""
    reason = getattr(exc, "reason", exc)
    return CliError(f"cannot reach the {who} at {base} ({reason}): {remedy}")


def answered(exc: urllib.error.HTTPError, who: str) -> CliError:
    """An error answer: its JSON body's message when it has one, and a hint for 401/403."""
    detail = exc.read().decode("utf-8", "replace")
    try:
        body = json.loads(detail)
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("message") or body.get("error") or body.get("errorMessage") or detail)
    # A 403 about the token wants another one; one naming a missing permission (a tenant's own
    # Kubernetes token, docs/tenancy.md) wants a RoleBinding, not a token.
    wrong_token = exc.code == 401 or (exc.code == 403 and "token" in detail)
    hint = " (pass --token or set WISP_ADMIN_TOKEN)" if wrong_token else ""
    return CliError(f"the {who} answered {exc.code}: {detail}{hint}")


@contextlib.contextmanager
def reaching(who: str, base: str, remedy: str) -> Iterator[None]:
    """Requests to ``who`` at ``base`` inside: their failures become one-line ``CliError``s."""
    try:
        yield
    except urllib.error.HTTPError as exc:
        raise answered(exc, who) from None
    except (urllib.error.URLError, OSError) as exc:
        raise unreachable(exc, who, base, remedy) from None
