"""A list's history in Prefect: its runs named and tagged with the list, artifacts keyed per list, `ac-sync
history`, and no traceback in the run's log (the UI's) for a failure that has a playbook."""

from __future__ import annotations

import io
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler
from rich.console import Console

from ac_sync.activecampaign.emulator import EmulatorProcess
from ac_sync.cli.history import list_history, print_history
from ac_sync.cli.sample import write_sample
from ac_sync.flows.records import list_key
from tests.syncing import sync


async def artifact_keys(run_id: str) -> set[str]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]))
        )
    return {a.key for a in found if a.key}


async def test_two_lists_have_their_own_history(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    spring = write_sample(tmp_path / "spring.csv", 300, seed=1)
    autumn = write_sample(tmp_path / "autumn.csv", 120, seed=2)
    runs = []
    for sample, name in ((spring, "Spring VIP"), (autumn, "Autumn"), (spring, "Spring VIP")):
        code, summary = await sync(audience=str(sample.path), list_name=name, group_name="Admin")
        assert code == 0, summary
        runs.append(summary["flow_run_id"])
    assert list_key("Spring VIP") != list_key("spring-vip") and list_key("Spring VIP").startswith("spring-vip-")
    keys = await artifact_keys(runs[0])
    assert f"sync-summary-{list_key('Spring VIP')}" in keys and f"rejected-rows-{list_key('Spring VIP')}" in keys
    assert not any("autumn" in k for k in keys)
    async with get_client() as client:
        first = await client.read_flow_run(UUID(runs[0]))
    assert "list:Spring VIP" in first.tags and first.name.startswith("Spring VIP · ")
    history = await list_history("Spring VIP")
    assert [h["flow_run_id"] for h in history] == [runs[2], runs[0]]  # newest first, only this list's
    assert history[1]["added"] == len(spring.valid) - 0 and history[0]["added"] == 0
    assert history[1]["rejected"] == spring.invalid + spring.duplicates
    assert all(h["status"] == "Completed" for h in history)
    out = io.StringIO()
    print_history("Spring VIP", history, Console(file=out, width=150), as_json=False)
    assert "Completed" in out.getvalue() and runs[2][:8] in out.getvalue()
    assert [h["flow_run_id"] for h in await list_history("Autumn")] == [runs[1]]


async def test_a_typed_failure_leaves_no_traceback_in_the_runs_log(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "a.csv", 50)
    code, summary = await sync(audience=str(sample.path), list_name="L", group_name="Nobody", pause_timeout=0)
    assert code == 3 and summary["failure"]["code"] == "INVALID_GROUP_NAME"
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(summary["flow_run_id"])]))
        )
    text = "\n".join(log.message for log in logs)
    assert "Nobody" in text  # the failure is in the log, as one line
    assert "Traceback" not in text
