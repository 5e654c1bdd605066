"""Shared helpers for the browser tests: Debian's headless Chromium driven by Playwright.

`scripts/ensure-chromium` installs /usr/bin/chromium; no other browser build is used.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from playwright.async_api import Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@asynccontextmanager
async def chromium_page(**context_options: Any) -> AsyncIterator[Page]:
    """A page in a fresh browser context; `context_options` go to `new_context`
    (for example `locale="ar-MA"` or `viewport={"width": 360, "height": 740}`)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(**context_options)
            try:
                page = await context.new_page()
                yield page
            finally:
                await context.close()
        finally:
            await browser.close()


_STORAGE_JS = """
async () => {
  const entries = (store) => {
    const out = {};
    try {
      for (let i = 0; i < store.length; i++) {
        const key = store.key(i);
        out[key] = store.getItem(key);
      }
    } catch (e) {}
    return out;
  };
  let databases = [];
  try {
    if (window.indexedDB && indexedDB.databases) {
      databases = (await indexedDB.databases()).map((db) => db.name);
    }
  } catch (e) {}
  let serviceWorkers = 0;
  try {
    if (navigator.serviceWorker) {
      serviceWorkers = (await navigator.serviceWorker.getRegistrations()).length;
    }
  } catch (e) {}
  let caches_ = [];
  try {
    if (window.caches) { caches_ = await caches.keys(); }
  } catch (e) {}
  return {
    localStorage: entries(window.localStorage),
    sessionStorage: entries(window.sessionStorage),
    indexedDB: databases,
    serviceWorkers: serviceWorkers,
    cacheStorage: caches_,
    documentCookie: document.cookie,
  };
}
"""


async def storage_snapshot(page: Page) -> dict:
    """What the page's origin keeps on the device: localStorage and sessionStorage entries,
    cookies (the whole context's), IndexedDB database names, plus service workers and
    Cache Storage names."""
    snapshot = await page.evaluate(_STORAGE_JS)
    snapshot["cookies"] = await page.context.cookies()
    return snapshot
