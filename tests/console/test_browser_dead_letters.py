"""The function page's Dead letters tab, in headless Chromium against a dev-mode console with
the event path on a real Redis: a failed async invocation is listed, redriven (it keeps its id
and counts the redrive), and purged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.browser import browser_page, expect
from tests.console.harness import DevConsole, start_dev_console, stop_dev_console
from tests.support.redis import RedisServer, redis_server  # noqa: F401
from wisp.api.function import parse_function
from wisp.queue import DeliverySettings, RedisSettings
from wisp.queue.extension import EventSettings, queue_extension

pytestmark = [pytest.mark.browser, pytest.mark.redis]

BROKEN = {
    "metadata": {"name": "broken", "namespace": "default"},
    "spec": {
        "runtime": "python3.12",
        "handler": "main.handler",
        "code": {"inline": "def handler(event, context):\n    raise ValueError('still broken')\n"},
        "async": {"maxRetries": 0},
    },
}


@pytest.fixture
async def console_with_events(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[DevConsole]:  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    delivery = DeliverySettings(read_block=0.5, poll_interval=0.05)
    events = queue_extension(EventSettings(RedisSettings(url=redis_server.url), delivery, schedules=False))
    console = await start_dev_console(tmp_path, [events])
    yield console
    await stop_dev_console(console)


async def test_a_dead_letter_is_listed_redriven_and_purged(console_with_events: DevConsole) -> None:
    console = console_with_events
    await console.local.applied(parse_function(BROKEN))
    async with console.session.post(console.url("/async-function/broken"), data=b'{"n": 1}') as response:
        assert response.status == 202
        invocation = (await response.json())["invocationId"]

    async with browser_page() as page:
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(console.url("/ui/#/f/default/broken/dead-letters"))
        row = page.locator("#dead-letters tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text(invocation)
        await expect(row.locator(".reason")).to_have_text("retries_exhausted")
        await expect(row.locator(".redrives")).to_have_text("0")

        await row.get_by_role("button", name="Redrive").click()
        await expect(page.locator("#toast")).to_have_text("Redriven 1")
        # Still broken: it fails again and comes back, the same invocation, redriven once.
        await expect(row.locator(".redrives")).to_have_text("1")
        await expect(row).to_contain_text(invocation)

        await page.get_by_role("button", name="Purge all").click()
        await expect(page.locator("#dead-letters")).to_contain_text("No dead letters.")
