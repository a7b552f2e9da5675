"""Java functions given as sources (inline and ``files`` code): compiled when the runtime starts."""

from __future__ import annotations

import pytest

from tests.runtimes.java.process import StartJava

pytestmark = pytest.mark.java

# Inline code is stored as Handler.java whatever class it declares.
HELLO = """\
package inline;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.util.Map;

public class Hello implements RequestHandler<Map<String, Object>, String> {
    @Override
    public String handleRequest(Map<String, Object> event, Context context) {
        return "hi " + event.get("name") + " from " + Helper.where();
    }
}
"""

HELPER = """\
package inline;

final class Helper {
    static String where() {
        return "sources";
    }
}
"""


def test_sources_only_code_is_compiled_and_served(start_java: StartJava) -> None:
    runtime = start_java("inline.Hello", files={"Handler.java": HELLO, "Helper.java": HELPER})

    reply = runtime.invoke({"name": "ada"})

    assert reply.status == 200
    assert reply.json() == "hi ada from sources"


def test_a_compile_error_fails_readiness_naming_the_file_and_line(start_java: StartJava) -> None:
    broken = HELLO.replace('return "hi "', 'return "hi " +;')

    runtime = start_java("inline.Hello", files={"Handler.java": broken, "Helper.java": HELPER})

    health = runtime.request("GET", "/healthz")
    assert health.status == 503
    body = health.json()
    assert body["errorType"] == "SyntaxError"
    assert "Handler.java:10: error" in body["errorMessage"]
