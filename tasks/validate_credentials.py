"""Step 2, validate-credentials: the cheapest authenticated call, `GET /users/me` (the client says what a refusal
means: a refused key, a wrong URL)."""

from __future__ import annotations

from prefect import get_run_logger, task

from ac_sync.activecampaign.client import ACClient
from ac_sync.activecampaign.models import User
from ac_sync.tasks.caching import run_scoped


@task(name="validate-credentials", cache_key_fn=run_scoped("validate-credentials"), persist_result=True)
async def validate_credentials(client: ACClient) -> User:
    user = await client.me()
    get_run_logger().info("Authenticated as user %s (%s)", user.id, user.username)
    return user
