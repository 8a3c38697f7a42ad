"""Helpers for tests that run the real sync flow against the emulator."""

from __future__ import annotations

import io
from typing import Any

import httpx
from rich.console import Console

from ac_sync.runner import run_sync


async def sync(**params: Any) -> tuple[int, dict[str, Any]]:
    """Run the flow in this process, as `ac-sync run` does; answer (exit code, summary)."""
    console = Console(file=io.StringIO(), width=200)
    return await run_sync(
        {k: v for k, v in params.items() if v is not None}, as_json=False, console=console, quiet=True
    )


class Admin:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/__emulator__")

    def state(self) -> dict[str, Any]:
        return self.http.get("/state").json()

    def requests(self) -> list[dict[str, Any]]:
        return self.http.get("/requests").json()

    def members(self, list_name: str, status: int = 1) -> set[str]:
        lists = [lst for lst in self.state()["lists"] if lst["name"] == list_name]
        assert len(lists) == 1, f"expected one list named {list_name!r}, found {len(lists)}"
        return {email for email, s in lists[0]["members"].items() if s == status}

    def group(self, title: str) -> int:
        return int(self.http.post("/groups", json={"title": title}).json()["id"])

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.http.post(path, json=body)
        resp.raise_for_status()
        return resp.json()


def create_list(emu: Any, name: str) -> dict[str, Any]:
    """Create a list through the API, as a person in ActiveCampaign's UI would."""
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        slug = f"{name.lower().replace(' ', '-')}-{len(api.get('/lists').json()['lists'])}"
        body = {"list": {"name": name, "stringid": slug, "sender_url": "https://x.example", "sender_reminder": "r"}}
        resp = api.post("/lists", json=body)
        resp.raise_for_status()
        return resp.json()["list"]
