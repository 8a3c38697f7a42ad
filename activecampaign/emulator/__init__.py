"""An emulator of the parts of the ActiveCampaign API v3 this project uses, for tests and demos.

Layout:
  config          options, including every behaviour the API reference leaves open
  model           the account's records (groups, users, lists, contacts, memberships, fields, tags, runs)
  state           the account: ids, links between records, cascades (Account)
  rights          who may do what: Admin group, pg* flags, visible lists, group limits (pure rules)
  field_types     custom field values checked and stored by type, for every way a value arrives
  imports         bulk import: validation, the batch timeline, a batch's effects
  limits, faults  sliding-window rate limits; injected failures
  core            the runtime: account, keys, limiters, faults, batches, request log (Emulator)
  render, render_account, render_fields   objects in the reference's shapes
  gate            log, faults, rate limit and key check in front of /api/3
  api_common      what the endpoints share: objects by id (by_id), pagination, error envelopes
  guards          refusals: the request's user, permission decorators, hidden lists, limits
  api_users, api_lists, api_contacts, api_fields, api_tags, api_automations, api_imports   the endpoints
  admin           /__emulator__ (every endpoint documented at its handler)
  app             the Starlette app
  served, server, process   serving it: EmulatorServer (uvicorn in a thread), serve, EmulatorProcess
"""

from .app import create_app
from .config import ConfigError, EmulatorConfig
from .core import Emulator
from .process import EmulatorProcess
from .server import EmulatorServer, serve

__all__ = ["ConfigError", "Emulator", "EmulatorConfig", "EmulatorProcess", "EmulatorServer", "create_app", "serve"]
