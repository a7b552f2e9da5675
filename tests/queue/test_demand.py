"""Which pods a backlog asks the autoscaler for: a queue Trigger naming a version or alias asks
for that version's (an alias's split by its weights), pure."""

from __future__ import annotations

import pytest

from wisp.api.function import Function, parse_function
from wisp.queue.extension import upstream_demand

HELLO = parse_function(
    {
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            "runtime": "python3.12",
            "handler": "main.handler",
            "code": {"inline": "def handler(e, c):\n    return 1\n"},
            "aliases": {
                "prod": {"version": 1, "additionalVersionWeights": {"2": 10}},
                "beta": {"version": 2},
            },
        },
    }
)
KNOWN = {"hello.default", "hello-v1.default", "hello-v2.default"}


def function_of(key: str) -> Function | None:
    return HELLO if key == "hello.default" else None


@pytest.mark.parametrize(
    ("demands", "known", "wanted"),
    [
        ({"hello.default": 5}, KNOWN, {"hello.default": 5}),
        ({"hello.default:2": 5}, KNOWN, {"hello-v2.default": 5}),
        ({"hello.default:prod": 100}, KNOWN, {"hello-v1.default": 90, "hello-v2.default": 10}),
        (
            {"hello.default": 3, "hello.default:beta": 4, "hello.default:prod": 10},
            KNOWN,
            {"hello.default": 3, "hello-v1.default": 9, "hello-v2.default": 5},
        ),
        ({"hello.default:gamma": 5}, KNOWN, {}),  # no such alias: no pods to ask for
        ({"hello.default:2": 5}, {"hello.default"}, {}),  # a version the gateway does not know yet
        ({"other.default": 5}, KNOWN, {}),
    ],
)
def test_upstream_demand(demands: dict[str, int], known: set[str], wanted: dict[str, int]) -> None:
    assert upstream_demand(demands, function_of, known) == wanted
