"""An emulator of the parts of the ActiveCampaign API v3 this project uses, for tests and demos.

Layout: config (options, including every behaviour the API reference leaves open), state (the account),
render (objects in the reference's shapes), limits (sliding windows), faults (injected failures),
imports (bulk import batches), gate (log, faults, limits and key check in front of /api/3), api_* (the
endpoints), admin (/__emulator__), app (the Starlette app), server (uvicorn: EmulatorServer, serve),
process (EmulatorProcess: the same in a child process).
"""

from .app import create_app
from .config import ConfigError, EmulatorConfig
from .core import Emulator
from .process import EmulatorProcess
from .server import EmulatorServer, serve

__all__ = ["ConfigError", "Emulator", "EmulatorConfig", "EmulatorProcess", "EmulatorServer", "create_app", "serve"]
