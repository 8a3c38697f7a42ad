"""Scheduled runs on a real Prefect server: prefect.yaml deployed, runs executed by `prefect worker`, a typed
failure that suspends (freeing the worker), alerts through the installed automation, and a UI-style Retry.

Everything goes through the commands an operator types (`ac-sync setup`, `ac-sync credentials save`,
`prefect deploy`, `prefect deployment run`, `prefect worker start --run-once`, `ac-sync resolve`) against
`prefect server start` on loopback and the emulator in its own process.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.schemas.objects import StateType
from prefect.states import AwaitingRetry, Suspended

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from tests.prefect_server import (
    CREDENTIALS_BLOCK,
    DEPLOYMENT,
    POOL,
    REPO,
    PrefectServer,
    WebhookReceiver,
    deploy,
    final_state,
    flow_state,
    playbook_artifacts,
    run_worker,
    save_credentials,
    task_states,
    trigger,
    wait_rescheduled,
    wait_state,
    wait_until,
)
from tests.syncing import Admin

# The server, emulator and worker fixtures (a plugin, so that both modules share one server).
pytest_plugins = ["tests.prefect_server"]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, webhook: WebhookReceiver) -> PrefectServer:
    deploy(prefect_server)
    # The alert goes to this module's receiver; `setup` replaces the automation rather than adding one.
    prefect_server.ok("ac-sync", "setup", "--pool", POOL, "--webhook-url", webhook.url)
    return prefect_server


@dataclass
class Site:
    """What a scheduled run meets: the deployed server, the emulator its credentials block names, and the
    machine its worker runs on."""

    server: PrefectServer
    emulator: EmulatorProcess
    worker_env: dict[str, str]
    admin: Admin

    def work(self, run_id: str, **env: str) -> Any:
        """One worker run (with `env` on top of the machine's), then the run's final state."""
        run_worker(self.server, {**self.worker_env, **env})
        return final_state(self.server, run_id)


@pytest.fixture
def site(deployed: PrefectServer, emulator_proc: EmulatorProcess, worker_env: dict[str, str]) -> Site:
    """The deployed server, with the credentials block holding the (reset) emulator's URL and key."""
    save_credentials(deployed, emulator_proc.base_url, emulator_proc.api_key)
    return Site(deployed, emulator_proc, worker_env, Admin(emulator_proc.base_url))


def test_setup_and_deploy_make_the_scheduled_deployment(deployed: PrefectServer, webhook: WebhookReceiver) -> None:
    deployed.ok("ac-sync", "setup", "--pool", POOL, "--webhook-url", webhook.url)  # a second time: no duplicates
    with deployed.api() as client:
        pool = client.read_work_pool(POOL)
        dep = client.read_deployment_by_name(DEPLOYMENT)
        automations = client.read_automations_by_name("ac-sync failure alert")
    assert pool.type == "process"
    assert len(automations) == 1
    trigger_ = automations[0].trigger
    assert trigger_.expect == {"ac-sync.failure.*"}  # type: ignore[union-attr]
    assert [a.type for a in automations[0].actions] == ["call-webhook"]
    assert [s.schedule.cron for s in dep.schedules] == ["0 6 * * *"]  # type: ignore[union-attr]
    assert dep.global_concurrency_limit is not None and dep.global_concurrency_limit.limit == 1
    assert dep.work_pool_name == POOL
    assert dep.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}], (
        "the pull step must run flows from the checkout prefect deploy ran in"
    )
    # Credentials by block name only.
    assert dep.parameters["credentials_block"] and not any("key" in name for name in dep.parameters)


def test_deployment_run_completes_with_the_list_exactly_right(site: Site, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "audience.csv", 600)
    run_id = trigger(site.server, audience=str(sample.path), list_name="Spring", group_name="Admin")
    state = site.work(run_id)
    assert state.is_completed(), state
    assert site.admin.members("Spring") == set(sample.valid)
    assert (tmp_path / "rejected.csv").exists()


def test_wrong_group_suspends_alerts_and_resumes_on_a_new_worker_run(
    site: Site, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    server, admin = site.server, site.admin
    sample = write_sample(tmp_path / "audience.csv", 600)
    run_id = trigger(server, audience=str(sample.path), list_name="Growth list", group_name="Growth")

    # The worker runs the flow up to the failure; the flow suspends and the worker process exits.
    run_worker(server, site.worker_env)
    state = flow_state(server, run_id)
    assert state.type == StateType.PAUSED and state.name == "Suspended", state
    assert state.state_details.pause_reschedule, "a suspended run is rescheduled on resume, not kept in process"

    alert = webhook.alert_for(run_id, "INVALID_GROUP_NAME")
    assert alert["waiting"] is True and alert["step"] == "ensure-group"
    assert alert["url"] == f"{server.ui_url}/runs/flow-run/{run_id}"
    assert "INVALID_GROUP_NAME" in alert["text"] and run_id in alert["text"]
    assert site.emulator.api_key not in str(alert)

    resolved = server.run("ac-sync", "resolve", run_id, "--action", "create-group")
    assert resolved.returncode == 0, resolved.stderr
    wait_rescheduled(server, run_id)

    state = site.work(run_id)
    assert state.is_completed(), state
    assert admin.members("Growth list") == set(sample.valid)
    groups = [g for g in admin.state()["groups"] if g["title"] == "Growth"]
    assert len(groups) == 1
    steps = task_states(server, run_id)
    # The re-run skipped the completed steps; the failed step ran again and, resolved, created the group.
    assert steps["get-details"] == ["Completed", "Cached"], steps
    assert steps["validate-credentials"] == ["Completed", "Cached"], steps
    assert steps["ensure-group"][0] == "Failed" and steps["ensure-group"][-1] == "Completed", steps
    assert steps["upload-contacts"] == ["Completed"], steps
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)
    # Announced once: the re-execution that found the answer stored did not alert again.
    assert playbook_artifacts(server, run_id) == ["playbook-invalid-group-name-growth-list"]


def test_ui_retry_after_a_key_rotation_fixed_in_the_block(site: Site, webhook: WebhookReceiver, tmp_path: Path) -> None:
    server = site.server
    sample = write_sample(tmp_path / "audience.csv", 600)
    site.admin.post("/keys", {"valid": ["rotated-key-7f3a"]})  # someone rotated the key in ActiveCampaign
    run_id = trigger(server, audience=str(sample.path), list_name="Rotated", group_name="Admin", pause_timeout=0)

    state = site.work(run_id)
    assert state.is_failed() and "INVALID_CREDENTIALS" in (state.message or ""), state
    alert = webhook.alert_for(run_id, "INVALID_CREDENTIALS")
    assert alert["waiting"] is False

    # The operator puts the new key in the block (from stdin: never a flag), then presses Retry in the UI.
    save_credentials(server, site.emulator.base_url, "rotated-key-7f3a", from_stdin=True)
    with server.api() as client:
        client.set_flow_run_state(UUID(run_id), AwaitingRetry(), force=True)
    state = site.work(run_id)
    assert state.is_completed(), state
    assert site.admin.members("Rotated") == set(sample.valid)
    steps = task_states(server, run_id)
    assert steps["get-details"] == ["Completed", "Cached"], steps
    assert steps["validate-credentials"] == ["Failed", "Completed"], steps


def test_retry_after_an_expired_suspension_suspends_again(site: Site, tmp_path: Path) -> None:
    """Nobody answered in time, the server failed the run; a Retry that meets the same failure asks again."""
    server = site.server
    sample = write_sample(tmp_path / "audience.csv", 300)
    run_id = trigger(server, audience=str(sample.path), list_name="Lapsed list", group_name="Lapsed")
    run_worker(server, site.worker_env)
    first = flow_state(server, run_id)
    assert first.name == "Suspended", first
    # Nobody answers: move the suspension's deadline into the past (instead of racing a short timeout), and the
    # server's expiry service fails the run as it would once the pause timeout ran out.
    deadline = datetime.now(UTC) - timedelta(seconds=1)
    with server.api() as client:
        client.set_flow_run_state(
            UUID(run_id),
            Suspended(pause_expiration_time=deadline, pause_key=first.state_details.pause_key),
            force=True,
        )
    expired = wait_state(server, run_id, lambda s: s.is_final(), "failed by the server's pause expiry")
    assert expired.is_failed() and "never resumed" in (expired.message or ""), expired

    with server.api() as client:
        client.set_flow_run_state(UUID(run_id), AwaitingRetry(), force=True)
    run_worker(server, site.worker_env)
    again = flow_state(server, run_id)
    assert again.name == "Suspended", again
    assert again.state_details.pause_key != first.state_details.pause_key

    server.ok("ac-sync", "resolve", run_id, "--action", "create-group")
    wait_rescheduled(server, run_id)
    state = site.work(run_id)
    assert state.is_completed(), state
    assert site.admin.members("Lapsed list") == set(sample.valid)


def test_setup_commands_refuse_a_key_flag_a_missing_key_and_a_missing_api(deployed: PrefectServer) -> None:
    no_key = deployed.run("ac-sync", "credentials", "save", CREDENTIALS_BLOCK, "--api-url", "http://127.0.0.1:9")
    assert no_key.returncode == 2 and "AC_SYNC_API_KEY" in no_key.stderr
    flag = deployed.run(
        "ac-sync", "credentials", "save", CREDENTIALS_BLOCK, "--api-url", "http://127.0.0.1:9", "--api-key", "k"
    )
    assert flag.returncode == 2 and "No such option" in flag.stderr
    env = {k: v for k, v in deployed.env(AC_SYNC_API_KEY="k").items() if k != "PREFECT_API_URL"}
    no_api = deployed.run("ac-sync", "credentials", "save", "x", "--api-url", "http://127.0.0.1:9", env=env)
    assert no_api.returncode == 2 and "PREFECT_API_URL" in no_api.stderr


def flow_run_process(flow_run_id: str) -> int:
    """The pid of the process a worker runs this flow run in (its environment names the run)."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    return int(proc.name)
            except OSError:
                continue
    raise AssertionError(f"no process runs flow run {flow_run_id}")


def test_alerts_for_any_failure_a_crash_too_many_rejected_and_the_recovery(
    site: Site, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    server, admin = site.server, site.admin
    # A broken query: no typed failure, still an alert with the query's own error.
    broken = trigger(server, audience="SELEC email FROM people", list_name="Alerts", group_name="Admin")
    assert site.work(broken).is_failed()
    alert = webhook.alert_for(broken, "RUN_FAILED")
    assert "SELEC" in alert["message"] and alert["lists"] == ["Alerts"]
    # The list's next run completes with about 5 % of its rows rejected, over a 3 % threshold: two notices.
    sample = write_sample(tmp_path / "audience.csv", 300)
    assert (sample.invalid + sample.duplicates) / 300 > 0.03
    fixed = trigger(server, audience=str(sample.path), list_name="Alerts", group_name="Admin")
    assert site.work(fixed, AC_SYNC_ALERT_REJECTED_SHARE="0.03").is_completed()
    share = webhook.alert_for(fixed, "REJECTED_SHARE")
    assert share["rejected"] == sample.invalid + sample.duplicates and share["rows"] == 300
    assert webhook.alert_for(fixed, "RECOVERED")["list"] == "Alerts"
    # A crash: the flow-run process killed mid-upload (slow emulator), Prefect's Crashed event alerts.
    admin.config(time_scale=1)
    big = write_sample(tmp_path / "big.csv", 3000, seed=5)
    crashing = trigger(server, audience=str(big.path), list_name="Crash", group_name="Admin")
    since = len(admin.requests())
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once"],
        env=server.env(**{**site.worker_env, "AC_SYNC_TIME_SCALE": "1"}),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: admin.accepted_bulk(since) >= 1, "the crashing run's first import", timeout=120)
        os.kill(flow_run_process(crashing), signal.SIGKILL)
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert final_state(server, crashing).type == StateType.CRASHED
    assert webhook.alert_for(crashing, "RUN_CRASHED")["flow_run_id"] == crashing
