"""Typed failures, playbooks, and every way of continuing a run without redoing completed work."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.flow_engine import run_flow_async
from prefect.flow_runs import aresume_flow_run
from prefect.states import AwaitingRetry

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.sample import write_sample
from ac_sync.flows.sync_audience import sync_audience
from ac_sync.resolutions.forms import form_for
from ac_sync.resolutions.pause import artifact_key
from tests.syncing import (
    Admin,
    PauseWatch,
    ac_sync_cli,
    cli_env,
    create_list,
    first_json,
    kill_after_accepted,
    start_cli,
    sync,
    wait_paused,
)

# The key is revoked after two batches: imports are refused, and so is who-am-I from then on (its first call, at
# the start of the run, passed; the second is the check that tells a revoked key from a missing right).
KEY_403_AFTER_TWO_BATCHES = [
    {"method": "POST", "path": "bulk_import", "delay_s": 0.001, "times": 2},
    {"method": "POST", "path": "bulk_import", "status": 403, "body": {"message": "Forbidden"}},
    {"method": "GET", "path": "users/me", "status": 403, "every": 2},
]


def writes(admin: Admin, path: str) -> int:
    """POSTs to `path` the API carried out (a throttled one that was sent again counts once)."""
    return sum(1 for r in admin.requests() if r["method"] == "POST" and r["path"] == path and r["status"] < 300)


# --- each failure code, triggered through the emulator ------------------------------------------------


def _closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    "code",
    [
        "INVALID_CREDENTIALS",
        "INVALID_GROUP_NAME",
        "AMBIGUOUS_LIST_NAME",
        "LIST_PERMISSION_DENIED",
        "API_URL_INVALID",
        "PAYMENT_REQUIRED",
        "RATE_LIMIT_EXHAUSTED",
    ],
)
async def test_each_failure_code_is_typed_with_its_playbook(
    sync_env: EmulatorProcess, admin: Admin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    group, list_name = "Admin", "Spring"
    if code == "INVALID_CREDENTIALS":
        monkeypatch.setenv("AC_SYNC_API_KEY", "canary-wrong-key-1d2c")
    elif code == "INVALID_GROUP_NAME":
        group = "admin "  # case and a trailing space: not the same title
    elif code == "AMBIGUOUS_LIST_NAME":
        create_list(sync_env, "Spring")
        create_list(sync_env, "Spring")
    elif code == "LIST_PERMISSION_DENIED":
        admin.post(
            "/faults",
            {"rules": [{"method": "POST", "path": "listGroups", "status": 403, "body": {"message": "Forbidden"}}]},
        )
    elif code == "API_URL_INVALID":
        monkeypatch.setenv("AC_SYNC_API_URL", _closed_port())
    elif code == "PAYMENT_REQUIRED":
        admin.post("/faults", {"rules": [{"method": "*", "path": "users/me", "status": 402}]})
    elif code == "RATE_LIMIT_EXHAUSTED":
        admin.post("/faults", {"rules": [{"method": "*", "path": "groups", "status": 429, "retry_after": 0}]})
    sample = write_sample(tmp_path / "a.csv", 50)
    exit_code, summary = await sync(audience=str(sample.path), list_name=list_name, group_name=group, pause_timeout=0)
    assert exit_code == 3, summary
    failure = summary["failure"]
    assert failure["code"] == code
    assert f"`{code}`" in failure["playbook"] and "## Continue the run" in failure["playbook"]
    assert "canary-wrong-key-1d2c" not in json.dumps(summary)
    if code == "INVALID_GROUP_NAME":
        assert failure["suggestions"] == ["Admin"] and "Did you mean 'Admin'?" in failure["playbook"]
    if code == "AMBIGUOUS_LIST_NAME":
        assert len(failure["list_ids"]) == 2
    # Nothing was written to the account before the failing step.
    assert writes(admin, "/api/3/import/bulk_import") == 0


async def test_playbook_artifact_and_form_reject_bad_input(
    sync_env: EmulatorProcess, admin: Admin, tmp_path: Path, pauses: PauseWatch
) -> None:
    sample = write_sample(tmp_path / "a.csv", 300)
    run = asyncio.create_task(sync(audience=str(sample.path), list_name="L", group_name="Marketing", pause_timeout=60))
    notice = await pauses.paused()
    run_id = UUID(notice.flow_run_id)
    async with get_client() as client:
        artifacts = await client.read_latest_artifacts()
    playbook = next(
        a for a in artifacts if a.key == artifact_key("INVALID_GROUP_NAME", "L") and a.flow_run_id == run_id
    )
    assert "No user group is titled **Marketing**" in str(playbook.data)
    assert sync_env.api_key not in str(playbook.data)
    # The form: the server refuses an unknown action, a blank group name and a non-positive list id.
    schema = form_for("INVALID_GROUP_NAME").model_json_schema()
    assert schema["required"] == ["action"]
    for bad in (
        {"action": "bogus"},
        {"action": "use-group", "group_name": ""},
        {"action": "use-group", "group_name": "  "},
    ):
        with pytest.raises(RuntimeError, match="Validation failed"):
            await aresume_flow_run(run_id, run_input=bad)
    # ac-sync resolve refuses an action without the input it needs, before the server sees it.
    refused = ac_sync_cli("resolve", str(run_id), "--action", "use-group")
    assert refused.returncode == 2 and "needs --set group_name" in refused.stderr
    admin.group("Marketing")
    await aresume_flow_run(run_id, run_input={"action": "retry"})
    code, summary = await run
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)


# --- the seed's two failures, every way of continuing -----------------------------------------------------


async def test_group_a_resolved_from_another_process_with_create_group(
    admin: Admin, tmp_path: Path, pauses: PauseWatch
) -> None:
    sample = write_sample(tmp_path / "a.csv", 700)
    run = asyncio.create_task(sync(audience=str(sample.path), list_name="L", group_name="Growth", pause_timeout=60))
    notice = await pauses.paused("INVALID_GROUP_NAME")
    resolved = ac_sync_cli("resolve", notice.flow_run_id, "--action", "create-group")
    assert resolved.returncode == 0, resolved.stderr
    code, summary = await run
    assert code == 0, summary
    state = admin.state()
    growth = next(g for g in state["groups"] if g["title"] == "Growth")
    assert [int(g) for g in state["lists"][0]["group_ids"]] == [int(growth["id"])]
    assert admin.members("L") == set(sample.valid)
    assert writes(admin, "/api/3/groups") == 1
    assert writes(admin, "/api/3/lists") == 1 and writes(admin, "/api/3/listGroups") == 1
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)


async def test_group_a_resolved_with_the_corrected_name(admin: Admin, tmp_path: Path, pauses: PauseWatch) -> None:
    admin.group("Marketing")
    sample = write_sample(tmp_path / "a.csv", 300)
    run = asyncio.create_task(sync(audience=str(sample.path), list_name="L", group_name="Marketting", pause_timeout=60))
    notice = await pauses.paused()
    resolved = ac_sync_cli("resolve", notice.flow_run_id, "--action", "use-group", "--set", "group_name=Marketing")
    assert resolved.returncode == 0, resolved.stderr
    code, summary = await run
    assert code == 0 and summary["group_name"] == "Marketing", summary
    assert admin.members("L") == set(sample.valid)


async def ui_retry(flow_run_id: str) -> Any:
    """What the Prefect UI's Retry does, then what a worker does: re-run the flow under the same id."""
    async with get_client() as client:
        await client.set_flow_run_state(UUID(flow_run_id), AwaitingRetry(), force=True)
        flow_run = await client.read_flow_run(UUID(flow_run_id))
    return await run_flow_async(sync_audience, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")


async def task_states(flow_run_id: str) -> dict[str, list[str]]:
    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    out: dict[str, list[str]] = {}
    for r in sorted(runs, key=lambda r: r.expected_start_time or r.created):
        out.setdefault(r.name.rsplit("-", 1)[0], []).append(r.state.name if r.state else "?")
    return out


async def test_group_b_ui_retry_after_outside_fix(admin: Admin, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 300)
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Growth", pause_timeout=0)
    assert code == 3 and summary["failure"]["code"] == "INVALID_GROUP_NAME"
    admin.group("Growth")  # the outside fix
    state = await ui_retry(summary["flow_run_id"])
    assert state.is_completed(), state
    assert admin.members("L") == set(sample.valid)
    states = await task_states(summary["flow_run_id"])
    assert states["get-details"] == ["Completed", "Cached"]
    assert states["validate-credentials"] == ["Completed", "Cached"]
    assert states["ensure-group"] == ["Failed", "Completed"]


async def test_group_c_fresh_run_after_outside_fix(admin: Admin, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 300)
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Growth", pause_timeout=0)
    assert code == 3
    admin.group("Growth")
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Growth", pause_timeout=0)
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    assert writes(admin, "/api/3/lists") == 1 and writes(admin, "/api/3/listGroups") == 1


async def test_credentials_a_key_rotated_mid_upload_resumes_without_resending(
    admin: Admin, tmp_path: Path, pauses: PauseWatch
) -> None:
    sample = write_sample(tmp_path / "a.csv", 2000)
    admin.post("/faults", {"rules": KEY_403_AFTER_TWO_BATCHES})
    run = asyncio.create_task(sync(audience=str(sample.path), list_name="L", group_name="Admin", pause_timeout=60))
    notice = await pauses.paused("INVALID_CREDENTIALS")
    assert "upload-contacts" in notice.playbook
    admin.post("/faults", {"rules": []})  # the operator restored the key
    await aresume_flow_run(UUID(notice.flow_run_id), run_input={"action": "retry"})
    code, summary = await run
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    # Every batch the API accepted was accepted once: the two queued before the failure were confirmed by polling.
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)
    assert writes(admin, "/api/3/lists") == 1 and writes(admin, "/api/3/listGroups") == 1


async def test_credentials_b_ui_retry_after_key_fixed(admin: Admin, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 2000)
    admin.post("/faults", {"rules": KEY_403_AFTER_TWO_BATCHES})
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin", pause_timeout=0)
    assert code == 3 and summary["failure"]["code"] == "INVALID_CREDENTIALS"
    admin.post("/faults", {"rules": []})
    state = await ui_retry(summary["flow_run_id"])
    assert state.is_completed(), state
    assert admin.members("L") == set(sample.valid)
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)
    states = await task_states(summary["flow_run_id"])
    for step in ("get-details", "validate-credentials", "ensure-group", "ensure-list"):
        assert states[step] == ["Completed", "Cached"], (step, states)
    assert states["upload-contacts"] == ["Failed", "Completed"]


async def test_credentials_c_fresh_run_after_key_fixed(admin: Admin, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 2000)
    admin.post("/faults", {"rules": KEY_403_AFTER_TWO_BATCHES})
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin", pause_timeout=0)
    assert code == 3
    admin.post("/faults", {"rules": []})
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Admin", pause_timeout=0)
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    assert admin.accepted_bulk() == math.ceil(len(sample.valid) / 250)
    # The list was created once; each of the two runs made its link again.
    assert writes(admin, "/api/3/lists") == 1 and writes(admin, "/api/3/listGroups") == 2


@pytest.mark.parametrize("seed_failure", ["INVALID_GROUP_NAME", "INVALID_CREDENTIALS"])
async def test_d_resolved_then_killed_mid_upload_then_fresh_run(
    admin: Admin, tmp_path: Path, seed_failure: str
) -> None:
    """`ac-sync run` pauses, is resolved from another process, is killed -9 mid-upload; a fresh run finishes."""
    # Slower, so that the kill lands mid-upload.
    admin.post("/config", {"time_scale": 2})
    env = {**cli_env(), "AC_SYNC_TIME_SCALE": "2"}
    sample = write_sample(tmp_path / "a.csv", 6000)
    group = "Growth" if seed_failure == "INVALID_GROUP_NAME" else "Admin"
    if seed_failure == "INVALID_CREDENTIALS":
        admin.post("/faults", {"rules": KEY_403_AFTER_TWO_BATCHES})
    args = ["--audience", str(sample.path), "--list", "L", "--group", group, "--pause-timeout", "120", "--json"]
    proc = start_cli("run", *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        paused = first_json(proc)
        assert (paused["status"], paused["failure"]["code"]) == ("paused", seed_failure)
        await wait_paused(paused["flow_run_id"])
        if seed_failure == "INVALID_CREDENTIALS":
            admin.post("/faults", {"rules": []})
        action = "create-group" if seed_failure == "INVALID_GROUP_NAME" else "retry"
        resolved = ac_sync_cli("resolve", paused["flow_run_id"], "--action", action)
        assert resolved.returncode == 0, resolved.stderr
        await kill_after_accepted(proc, admin, 6, timeout_s=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    accepted_at_kill = admin.accepted_bulk()
    total_batches = math.ceil(len(sample.valid) / 250)
    assert accepted_at_kill < total_batches, "killed too late to show anything"
    monkey_scale = os.environ.get("AC_SYNC_TIME_SCALE")
    os.environ["AC_SYNC_TIME_SCALE"] = "2"
    try:
        code, summary = await sync(audience=str(sample.path), list_name="L", group_name=group, pause_timeout=0)
    finally:
        os.environ["AC_SYNC_TIME_SCALE"] = monkey_scale or "10"
    assert code == 0, summary
    assert admin.members("L") == set(sample.valid)
    # At most the one batch in flight at the kill went twice; completed steps' writes were not repeated.
    assert total_batches <= admin.accepted_bulk() <= total_batches + 1
    # The list was created once; its link is made again by each run that reaches ensure-list (two here).
    assert writes(admin, "/api/3/lists") == 1 and writes(admin, "/api/3/listGroups") == 2
    assert writes(admin, "/api/3/groups") == (1 if seed_failure == "INVALID_GROUP_NAME" else 0)
