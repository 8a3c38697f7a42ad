"""Step 2, validate-credentials: the cheapest authenticated call, `GET /users/me`."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from activecampaign.client import ACClient
from activecampaign.errors import ACError
from resolutions.classify import typed_failure
from tasks.caching import run_scoped


@task(name="validate-credentials", cache_key_fn=run_scoped("validate-credentials"), persist_result=True)
async def validate_credentials(client: ACClient) -> dict[str, Any]:
    try:
        user = await client.me()
    except ACError as exc:
        failure = await typed_failure(exc, step="validate-credentials", client=client, api_url=client.base_url)
        raise (failure or exc) from None
    get_run_logger().info("Authenticated as user %s (%s)", user.get("id"), user.get("username"))
    return {"user_id": str(user.get("id")), "username": user.get("username")}
