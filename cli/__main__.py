"""`python -m ac_sync.cli`: the `ac-sync` command."""

from ac_sync.cli.app import main

main()
