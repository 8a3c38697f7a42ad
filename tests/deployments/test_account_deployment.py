"""`sync-account` deployed from prefect.yaml: two accounts' syncs files run side by side on two workers, each
list exact, the account's rate budget shared through the Prefect server (0 × 429)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.prefect_server import PrefectServer, deploy, final_state, running_workers, save_credentials, trigger
from tests.syncing import Admin

pytest_plugins = ["tests.prefect_server"]
pytestmark = pytest.mark.timeout(400)

ACCOUNT = "sync-account/account"


def audience(path: Path, first: int, count: int) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "first_name"])
        writer.writerows([f"p{i}@example.com", f"P{i}"] for i in range(first, first + count))
    return path


def syncs_file(folder: Path, prefix: str, lists: dict[str, tuple[int, int]]) -> Path:
    folder.mkdir()
    syncs = []
    for name, (first, count) in lists.items():
        audience(folder / f"{name}.csv", first, count)
        syncs.append({"name": name, "audience": f"{name}.csv", "list": f"{prefix} {name}", "group": "Admin"})
    (folder / "syncs.yaml").write_text(yaml.safe_dump({"syncs": syncs}), encoding="utf-8")
    return folder / "syncs.yaml"


def test_two_account_files_on_two_workers_share_the_budget(
    prefect_server: PrefectServer, emulator_proc: EmulatorProcess, worker_env: dict[str, str], tmp_path: Path
) -> None:
    deploy(prefect_server)
    save_credentials(prefect_server, emulator_proc.base_url, emulator_proc.api_key)
    with prefect_server.api() as client:
        dep = client.read_deployment_by_name(ACCOUNT)
    assert dep.entrypoint == "ac_sync.flows.sync_account:sync_account" and "syncs" in dep.parameters
    admin = Admin(emulator_proc.base_url)
    east = syncs_file(tmp_path / "east", "East", {"news": (0, 3000), "vip": (0, 400), "lapsed": (2500, 1000)})
    west = syncs_file(tmp_path / "west", "West", {"news": (1000, 2500), "customers": (1500, 1200)})
    runs = [trigger(prefect_server, ACCOUNT, syncs=str(file)) for file in (east, west)]
    env = {**worker_env, "AC_SYNC_SHARED_BUDGET": "true"}
    with running_workers(prefect_server, env, 2) as logs:
        states = [final_state(prefect_server, run, timeout=300) for run in runs]
    # Both workers were polling the pool; which took which run (or one both, in turn) is theirs to decide.
    took = [log.read_text().count("submitted to infrastructure") for log in logs]
    assert sum(took) == 2, [log.read_text()[-2000:] for log in logs]
    assert all(state.is_completed() for state in states), states
    for prefix, lists in (
        ("East", {"news": (0, 3000), "vip": (0, 400), "lapsed": (2500, 1000)}),
        ("West", {"news": (1000, 2500), "customers": (1500, 1200)}),
    ):
        for name, (first, count) in lists.items():
            assert admin.members(f"{prefix} {name}") == {f"p{i}@example.com" for i in range(first, first + count)}
    log = admin.requests()
    assert sum(1 for r in log if r["status"] == 429) == 0
    # Each file's contacts went once each: ⌈3500/250⌉ + ⌈2500/250⌉ shared imports.
    assert admin.accepted_bulk() == 14 + 10
