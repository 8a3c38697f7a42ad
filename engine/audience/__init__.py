"""get-details' engine: read a source, validate and de-duplicate emails, store the audience in DuckDB."""

from ac_sync.engine.errors import AudienceError

from .count import audience_pending, count_audience, finish_audience, pending_counts
from .db import connect_db
from .emails import check_email
from .fields import fields_hash
from .prepare import AudienceSummary, prepare_audience, prepare_head
from .read import AUDIENCE_QUERY, iter_batches, iter_rows
from .rejected import complete_rejected, count_rejected, fill_reasons, rejected_rows, write_rejected_csv

__all__ = [
    "AUDIENCE_QUERY",
    "AudienceError",
    "AudienceSummary",
    "audience_pending",
    "check_email",
    "complete_rejected",
    "connect_db",
    "count_audience",
    "count_rejected",
    "fields_hash",
    "fill_reasons",
    "finish_audience",
    "iter_batches",
    "iter_rows",
    "pending_counts",
    "prepare_audience",
    "prepare_head",
    "rejected_rows",
    "write_rejected_csv",
]
