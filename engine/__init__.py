"""The sync engine below the steps: settings, audience preparation, the upload and its sync state.

Floors, from the top: the command line (`ac_sync`), the flow (`flows`), its steps (`tasks`), typed failures
(`resolutions`), this engine, and the ActiveCampaign client and emulator (`activecampaign`). A module never
imports one on a higher floor; `lint-imports` checks the contract in pyproject.toml.
"""
