"""Which JetStream answers to a message delete mean "gone already" (a settlement repeated after a
failover deletes an entry the first one deleted) and which are real failures."""

from __future__ import annotations

import pytest

from wisp.queue.nats_errors import deleted_already


@pytest.mark.parametrize(
    ("error", "gone"),
    [
        ({"code": 500, "err_code": 10057, "description": "no message found"}, True),
        ({"code": 500, "err_code": 10057, "description": "stream store EOF"}, False),
        ({"code": 500, "err_code": 10057}, False),
        ({"code": 503, "err_code": 10008, "description": "no message found"}, False),
    ],
    ids=["clustered-gone", "store-failure", "no-description", "other-code"],
)
def test_a_delete_of_a_message_that_is_gone(error: dict[str, object], gone: bool) -> None:
    assert deleted_already(error) is gone
