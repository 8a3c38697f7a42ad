"""The Prefect UI in a real browser: a suspended deployment run's page shows the playbook and the resolution
form, the operator submits it there, and the run completes on the next worker run.

Headless Chromium is Debian's `chromium` package driven by Playwright (`playwright install` is never run:
browsers cannot be downloaded here). Screenshots land in the test's tmp_path; the paths are printed.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.objects import StateType

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.prefect_server import PrefectServer, deploy, flow_state, run_worker, save_credentials, trigger, wait_state
from tests.syncing import Admin

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work in this container: no sandbox (root, no user namespaces), no GPU, and no traffic of the
# browser's own to the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytest_plugins = ["tests.prefect_server"]
pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")


@contextmanager
def browser_page() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="ac-sync-chromium-")  # a new empty --user-data-dir each time
    try:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )
            try:
                page = context.new_page()
                page.set_default_timeout(60_000)
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def choose(page: Any, dialog: Any, option: str) -> None:
    """Pick `option` in the form's first select (the UI's own select widget, not a <select>)."""
    control = dialog.locator(".p-select-button__control").first
    control.click()
    options = page.locator(".p-select-option")
    if not options.first.is_visible():
        control.press("ArrowDown")  # the widget opens on the keyboard when a click only focused it
    options.filter(has_text=re.compile(rf"^\s*{re.escape(option)}\s*$")).first.click()
    sync_api.expect(dialog.locator(".p-select-button__value").first).to_have_text(option)


@pytest.fixture
def server(prefect_server: PrefectServer, emulator_proc: EmulatorProcess) -> PrefectServer:
    deploy(prefect_server)
    save_credentials(prefect_server, emulator_proc.base_url, emulator_proc.api_key)
    return prefect_server


def test_suspended_run_page_shows_the_playbook_and_its_form_resolves_the_run(
    server: PrefectServer, emulator_proc: EmulatorProcess, worker_env: dict[str, str], tmp_path: Path
) -> None:
    expect = sync_api.expect
    expect.set_options(timeout=60_000)
    admin = Admin(emulator_proc.base_url)
    sample = write_sample(tmp_path / "audience.csv", 300)
    run_id = trigger(server, audience=str(sample.path), list_name="Partners list", group_name="Partners")
    run_worker(server, worker_env)
    assert flow_state(server, run_id).name == "Suspended"

    with browser_page() as page:
        page.goto(f"{server.ui_url}/runs/flow-run/{run_id}")
        expect(page.get_by_text("Suspended", exact=True).first).to_be_visible()
        page.get_by_role("button", name="Resume").click()
        dialog = page.get_by_role("dialog")
        # The playbook, rendered from the form's description markdown ...
        expect(dialog.get_by_role("heading", name=re.compile("INVALID_GROUP_NAME"))).to_be_visible()
        expect(dialog).to_contain_text("No user group is titled Partners")
        expect(dialog.get_by_role("heading", name="Continue the run")).to_be_visible()
        expect(dialog).to_contain_text(f"ac-sync resolve {run_id} --action create-group")
        # ... and the typed form under it.
        expect(dialog.get_by_text("How to continue the run")).to_be_visible()
        choose(page, dialog, "create-group")
        form_shot = tmp_path / "ui-resume-form.png"
        page.screenshot(path=str(form_shot))
        print(f"screenshot of the resume form: {form_shot}")
        dialog.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Flow run resumed").first).to_be_visible()

    wait_state(server, run_id, lambda s: s.type == StateType.SCHEDULED, "rescheduled after the UI's resume")
    run_worker(server, worker_env)
    state = wait_state(server, run_id, lambda s: s.is_final(), "final")
    assert state.is_completed(), state
    assert admin.members("Partners list") == set(sample.valid)
    assert [g["title"] for g in admin.state()["groups"]].count("Partners") == 1

    with browser_page() as page:
        page.goto(f"{server.ui_url}/runs/flow-run/{run_id}")
        expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
        done_shot = tmp_path / "ui-completed.png"
        page.screenshot(path=str(done_shot))
        print(f"screenshot of the completed run: {done_shot}")
