"""Headless Chromium (Debian's, not a downloaded one) driven by Playwright, for the console's
end-to-end tests; screenshots go to docs/images/console-*.png."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("WISP_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}

if not shutil.which(CHROMIUM):  # pragma: no cover - make deps installs it
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.async_api import Page, async_playwright, expect  # noqa: E402

expect.set_options(timeout=30_000)


@asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            page = await context.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page
            assert errors == [], f"the console's scripts failed: {errors}"
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    # No toast in the picture: hide it without its fade-out.
    await page.evaluate(
        "(t => { t.style.transition = 'none'; t.classList.remove('show'); })"
        "(document.getElementById('toast'))"
    )
    await page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)
