"""`python -m ac_sync.activecampaign.emulator [--port 8765] [--time-scale 10] [--name-filter exact] ...`

Every EmulatorConfig field is a flag; serves until interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields

from .config import CHOICES, EmulatorConfig
from .server import serve


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = EmulatorConfig()
    for f in fields(EmulatorConfig):
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default, choices=CHOICES.get(f.name))


def config_from_arguments(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig.from_mapping({f.name: getattr(args, f.name) for f in fields(EmulatorConfig)})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ac_sync.activecampaign.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_arguments(args)

    def announce(base_url: str) -> None:
        print(f"ActiveCampaign emulator at {base_url}  (API key: {config.api_key})", flush=True)

    try:
        serve(args.host, args.port, config, on_ready=announce)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
