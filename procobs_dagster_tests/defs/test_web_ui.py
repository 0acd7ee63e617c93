"""The Dagster web UI, in headless Chromium (from the distribution's packages), lists the
code location's assets, checks, sensors and schedules, and shows what `procobs demo`
materialised with its metadata.

One test visits every page, so the webserver starts once (on a free port, with a temporary
DAGSTER_HOME) whichever worker runs it. Without Chromium or Playwright the test is skipped
with the reason, except under CI=true, where it must run.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from procobs_dagster.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 90_000


def _require(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true the web UI test must run: {reason}", pytrace=False)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/server_info", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer at {url}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """`make demo` then `make ui`: the demo on a fresh embedded database, then
    dagster-webserver over workspace.yaml on the instance the demo filled (no daemon)."""
    home = tmp_path_factory.mktemp("procobs_home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "webserver.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PROCOBS_"))}
    env |= {"PROCOBS_HOME": str(home)}
    subprocess.run(
        [Path(sys.executable).with_name("procobs"), "demo"],
        cwd=home,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    env |= {"DAGSTER_HOME": str(home / "dagster")}
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                Path(sys.executable).with_name("dagster-webserver"),
                "-w",
                ROOT / "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser():
    _require(
        Path(CHROMIUM).exists() and shutil.which("chromium") is not None,
        f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, webserver):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    yield page
    context.close()


def expect_links(page, hrefs) -> None:
    for href in hrefs:
        page.locator(f'a[href="{href}"]').filter(visible=True).first.wait_for()


def test_ui_lists_assets_checks_sensors_and_schedules(page, webserver):
    page.goto(f"{webserver}/assets")
    expect_links(page, [f"/assets/{key.to_user_string()}" for key in defs.resolve_all_asset_keys()])

    checks_by_asset: dict[str, list[str]] = {}
    for key in defs.resolve_asset_graph().asset_check_keys:
        checks_by_asset.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    assert checks_by_asset
    for asset, names in sorted(checks_by_asset.items()):
        page.goto(f"{webserver}/assets/{asset}?view=checks")
        page.get_by_text(f"Checks ({len(names)})", exact=True).first.wait_for()
        for name in names:
            # The list truncates long names in the middle; the full name is rendered too.
            page.get_by_text(name, exact=True).first.wait_for(state="attached")

    page.goto(f"{webserver}/automation")
    location = "/locations/procobs_dagster"
    expect_links(
        page,
        [f"{location}/sensors/{s.name}" for s in defs.sensors]
        + [f"{location}/schedules/{s.name}" for s in defs.schedules or []],
    )

    # The demo's materialisation, with its metadata rendered (a markdown table's cells).
    page.goto(f"{webserver}/assets/discovery_scores")
    for text in ("verified_candidate", "PROC-CAND:job:kg-export", "DOT_KG_EXTRACT"):
        page.get_by_text(text).filter(visible=True).first.wait_for()
