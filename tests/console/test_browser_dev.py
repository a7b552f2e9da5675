"""End to end in real headless Chromium against a dev-mode console: create a function in the
editor, deploy it, test it with an event, see the result and its log line, see the call in the
list and the chart, and delete it."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from tests.console.browser import browser_page, expect, screenshot
from tests.console.harness import DevConsole
from wisp.api.runtimes import newest

pytestmark = pytest.mark.browser

DEFAULT_PYTHON = newest("python", datetime.date.today()).value  # the editor's default runtime
CODE = """def handler(event, context):
    name = event.get("name", "world")
    context.logger.info("greeting %s", name)
    return {"greeting": f"hi {name}"}
"""


async def test_create_deploy_test_watch_delete(dev_console: DevConsole) -> None:
    async with browser_page() as page:
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(dev_console.url("/ui/"))
        await expect(page.get_by_role("heading", name="No functions yet")).to_be_visible()
        await page.get_by_role("link", name="Create your first function").click()
        await expect(page.get_by_role("heading", name="Create function")).to_be_visible()

        await page.get_by_label("Name", exact=True).fill("greeter")
        await expect(page.get_by_label("Runtime")).to_have_value(DEFAULT_PYTHON)
        await page.get_by_label("Handler code").fill(CODE)
        await expect(page.locator(".codearea .tok-keyword").first).to_have_text("def")  # highlighted
        await page.get_by_label("Memory").fill("lots")
        await page.get_by_role("button", name="Deploy").click()
        memory_error = page.locator("#f-memory-error")
        await expect(memory_error).to_contain_text("spec.memory")
        await expect(page.get_by_label("Memory")).to_have_attribute("aria-invalid", "true")
        assert list(dev_console.folder.glob("*.yaml")) == []
        await screenshot(page, "editor")

        await page.get_by_label("Memory").fill("128Mi")
        await page.get_by_role("button", name="Deploy").click()
        await expect(page).to_have_url(re.compile(r"#/f/default/greeter/test$"))
        assert (dev_console.folder / "greeter.yaml").is_file()

        await page.get_by_label("Event (JSON)").fill('{"name": "ada"}')
        await page.get_by_role("button", name="Test", exact=True).click()
        await expect(page.locator("#result-status")).to_have_text("200")
        await expect(page.locator("#result-body")).to_contain_text("hi ada")
        await expect(page.locator("#result-cold")).to_contain_text("yes")
        # The page's summary counts it (wisp dev has no warm pool: none came from one).
        await expect(page.locator("dl.summary").first).to_contain_text("Cold starts1 (0 from the warm pool)")
        await expect(page.locator("#result-logs")).to_contain_text("greeting ada")
        await page.get_by_label("Event name").fill("ada")
        await page.get_by_role("button", name="Save event").click()
        await expect(page.get_by_label("Saved events")).to_have_value("ada")
        await screenshot(page, "test")

        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Functions").click()
        row = page.locator('tr[data-function="greeter"]')
        await expect(row.locator(".invocations")).to_have_text("1")
        await expect(row).to_contain_text(DEFAULT_PYTHON)
        await screenshot(page, "functions")

        await row.get_by_role("link", name="greeter").click()
        await page.get_by_role("link", name="Monitor").click()
        await expect(page.locator("#chart-invocations rect")).to_have_count(1)
        await expect(page.locator("#chart-duration path")).not_to_have_count(0)
        await screenshot(page, "monitor")

        await page.get_by_role("link", name="Logs").click()
        await expect(page.locator(".logs-table")).to_contain_text("greeting ada")
        await screenshot(page, "logs")
        # The level filter keeps records at or above it: the call logged nothing at ERROR.
        await page.get_by_label("Level").select_option("ERROR")
        await expect(page.get_by_text("No lines for level ERROR and above.")).to_be_visible()
        await page.get_by_label("Level").select_option("INFO")
        await expect(page.locator(".logs-table")).to_contain_text("greeting ada")

        await page.get_by_role("link", name="Usage").click()
        await expect(page.locator("#usage-table")).to_contain_text("greeter")
        await screenshot(page, "usage")
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Download CSV").click()
        download = await download_info.value
        assert download.suggested_filename.startswith("wisp-usage-hour-")
        csv_text = Path(await download.path()).read_text()
        assert csv_text.splitlines()[0].startswith("function,namespace,period")
        assert csv_text.splitlines()[1].startswith("greeter,default,hour,")

        await page.goto(dev_console.url("/ui/#/f/default/greeter/code"))
        await expect(page.get_by_label("Handler code")).to_have_value(CODE)
        await page.get_by_role("button", name="Delete").click()
        await expect(page.get_by_role("heading", name="No functions yet")).to_be_visible()
        assert not (dev_console.folder / "greeter.yaml").exists()
