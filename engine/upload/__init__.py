"""upload-contacts' engine: the plan, the batches, the pipelined uploader and the sync state, driven by ListSync."""

from .planner import MIRROR, MODES, UPSERT, PlanCounts
from .sync import ListSync, Plan, Sent, SyncOptions

__all__ = ["MIRROR", "MODES", "UPSERT", "ListSync", "Plan", "PlanCounts", "Sent", "SyncOptions"]
