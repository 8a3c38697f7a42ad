"""Step 2, validate-credentials: the cheapest authenticated call, `GET /users/me`."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.resolutions.classify import typed_failures
from ac_sync.tasks.caching import run_scoped


@task(name="validate-credentials", cache_key_fn=run_scoped("validate-credentials"), persist_result=True)
async def validate_credentials(client: ACClient) -> dict[str, Any]:
    async with typed_failures("validate-credentials", client, api_url=client.base_url):
        user = await client.me()
    get_run_logger().info("Authenticated as user %s (%s)", user.id, user.username)
    return {"user_id": str(user.id), "username": user.username}
