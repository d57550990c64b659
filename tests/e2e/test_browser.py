"""The admin page in a real browser against a real `livermore serve` process, simulator and Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from livermore.embedded import RedisServer, free_port

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

TOKEN = "browser-test-token"
ARTIFACTS = Path(__file__).parent / "artifacts"
LIVERMORE = [sys.executable, "-m", "livermore"]
SYMBOLS, TIMEFRAMES = 6, ["1d", "4h", "1h", "15m", "5m"]
PAIRS = SYMBOLS * len(TIMEFRAMES)


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s}s"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@dataclass(frozen=True)
class Served:
    url: str
    sim_url: str
    serve: subprocess.Popen[bytes]


@pytest.fixture
def served() -> Iterator[Served]:
    """Redis, a simulator and `livermore serve`, each a process of its own."""
    with RedisServer() as redis_server:
        sim_port, web_port = free_port(), free_port()
        sim = subprocess.Popen(
            [*LIVERMORE, "simulator", "--port", str(sim_port), "--symbols", "12", "--latency-ms", "20,60"],
            stdout=subprocess.DEVNULL,
        )
        serve = None
        try:
            wait_http(f"http://127.0.0.1:{sim_port}/api/v3/ping", sim)
            serve = subprocess.Popen(
                [
                    *LIVERMORE,
                    "serve",
                    "--redis-url",
                    redis_server.url,
                    "--base-url",
                    f"http://127.0.0.1:{sim_port}",
                    "--port",
                    str(web_port),
                    "--top",
                    str(SYMBOLS),
                    "--quote",
                    "USDT",
                    "--timeframes",
                    ",".join(TIMEFRAMES),
                ],
                env={**os.environ, "LIVERMORE_ADMIN_TOKEN": TOKEN},
                stdout=subprocess.DEVNULL,
            )
            wait_http(f"http://127.0.0.1:{web_port}/api/info", serve)
            yield Served(f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{sim_port}", serve)
            assert stop(serve) == 0, "serve did not shut down cleanly on SIGTERM"
        finally:
            if serve is not None and serve.poll() is None:
                stop(serve)
            stop(sim)


def unmonitored_symbol(served: Served) -> str:
    listed = {s["symbol"] for s in httpx.get(f"{served.sim_url}/api/v3/exchangeInfo").json()["symbols"]}
    monitored = set(httpx.get(f"{served.url}/api/info").json()["symbols"])
    return sorted(listed - monitored)[0]


def test_operator_starts_a_warmup_and_watches_it_complete(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    spare = unmonitored_symbol(served)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(served.url)
            expect(page.locator("#live-text")).to_have_text("live")
            expect(page.locator("#offline")).to_be_hidden()
            expect(page.locator("#status-badge")).to_have_text("idle")
            expect(page.locator("#meter .cell")).to_have_count(PAIRS)
            expect(page.locator("#symbol-count")).to_have_text(f"{SYMBOLS} symbols")
            before = int(page.locator("#meter").get_attribute("data-refreshes") or 0)

            page.click("#btn-start")  # a wrong token first: the dialog says so, in the dialog
            expect(page.locator("#token-dialog")).to_be_visible()
            expect(page.locator("#token-error")).to_be_hidden()
            page.fill("#token-input", "not-the-token")
            page.click("#token-ok")
            expect(page.locator("#token-dialog #token-error")).to_be_visible()
            expect(page.locator("#token-error")).to_contain_text("Wrong token")
            expect(page.locator("#token-dialog")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "admin-token-refused.png"))
            page.fill("#token-input", TOKEN)
            page.click("#token-ok")
            expect(page.locator("#token-dialog")).not_to_be_visible()

            expect(page.locator("#status-badge")).to_have_text("complete", timeout=30_000)
            expect(page.locator("#percent")).to_have_text("100%")
            expect(page.locator("#progress")).to_have_attribute("aria-valuenow", "100")
            expect(page.locator("#n-completed")).to_have_text(str(PAIRS))
            expect(page.locator("#schedule-rows tr")).to_have_count(PAIRS)
            expect(page.locator('#schedule-rows tr[data-state="done"]')).to_have_count(PAIRS)
            expect(page.locator("#schedule-summary")).to_contain_text(f"({PAIRS} done)")
            # the meter was read when the run began (and every 2 s while it went) and once at its end
            page.wait_for_function(f"+document.getElementById('meter').dataset.refreshes >= {before + 2}")
            # fresh = newest candle under two intervals old (the scanner's rule): green, or yellow-green
            # when an interval turned since the warmup (the live feed, not the warmup, adds the next)
            expect(page.locator("#meter .cell.c0, #meter .cell.c1")).to_have_count(PAIRS)

            first = page.locator("#meter td.sym").first.inner_text()
            page.click("#btn-backfill")  # the token is kept for the tab: no second prompt
            expect(page.locator("#action-dialog")).to_be_visible()
            expect(page.locator("#token-dialog")).not_to_be_visible()
            page.fill("#action-input", first)
            page.fill("#action-timeframes", "7x")  # refused (422): the toast gives the field and why
            page.click("#action-ok")
            expect(page.locator(".toast.bad").last).to_contain_text("timeframes: ")
            expect(page.locator(".toast.bad").last).to_contain_text("unknown timeframe '7x'")

            page.click("#btn-backfill")
            page.fill("#action-input", first)
            page.fill("#action-timeframes", "1h")
            page.click("#action-ok")
            expect(page.locator(".toast.ok").last).to_contain_text(first)

            page.click("#btn-add")  # the header counts the new symbol
            page.fill("#action-input", spare)
            page.click("#action-ok")
            expect(page.locator(".toast.ok").last).to_contain_text("Added")
            expect(page.locator("#symbol-count")).to_have_text(f"{SYMBOLS + 1} symbols")
            expect(page.locator("#meter .cell")).to_have_count(PAIRS + len(TIMEFRAMES))

            page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

            assert stop(served.serve) == 0  # the server goes away: a banner says so
            expect(page.locator("#offline")).to_be_visible()
            expect(page.locator("#offline")).to_contain_text("Server unreachable")
            expect(page.locator("#live-text")).to_have_text("server unreachable")
            page.screenshot(path=str(ARTIFACTS / "admin-offline.png"))
        finally:
            browser.close()
