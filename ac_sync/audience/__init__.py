"""Audience preparation: read a source, validate and de-duplicate emails, store the result in DuckDB."""

from .db import connect_db
from .emails import check_email
from .errors import AudienceError
from .fields import fields_hash
from .prepare import AudienceSummary, prepare_audience
from .read import AUDIENCE_QUERY, iter_batches, iter_rows
from .rejected import rejected_rows, write_rejected_csv

__all__ = [
    "AUDIENCE_QUERY",
    "AudienceError",
    "AudienceSummary",
    "check_email",
    "connect_db",
    "fields_hash",
    "iter_batches",
    "iter_rows",
    "prepare_audience",
    "rejected_rows",
    "write_rejected_csv",
]
