"""The Dagster web UI, in headless Chromium (from the distribution's packages), lists the
code location's assets, checks, sensors and schedules, and shows what `procobs demo`
materialised with its metadata.

One test visits every page, so the webserver starts once (on a free port, with a temporary
DAGSTER_HOME) whichever worker runs it. Without Chromium or Playwright the test is skipped
with the reason, except under CI=true, where it must run.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from procobs_dagster.definitions import defs
from procobs_dagster_tests.dagster_processes import (
    BIN,
    ROOT,
    clean_env,
    free_port,
    require,
    started,
    wait_until_serving,
)

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


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """`make demo` then `make ui`: the demo on a fresh embedded database, then
    dagster-webserver over workspace.yaml on the instance the demo filled (no daemon)."""
    home = tmp_path_factory.mktemp("procobs_home")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(PROCOBS_HOME=str(home))
    subprocess.run(
        [BIN / "procobs", "demo"], cwd=home, env=env, check=True, capture_output=True, timeout=600
    )
    env |= {"DAGSTER_HOME": str(home / "dagster")}
    command = [BIN / "dagster-webserver", "-w", ROOT / "workspace.yaml", "-h", "127.0.0.1"]
    with started([*command, "-p", str(port)], cwd=home, env=env, log=home / "web.log") as server:
        wait_until_serving(url, server, home / "web.log", UI_TIMEOUT_MS / 1000)
        yield url


@pytest.fixture(scope="module")
def browser():
    require(
        Path(CHROMIUM).exists() and shutil.which("chromium") is not None,
        f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "Playwright is not installed (pip install -e '.[dev]')")
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
