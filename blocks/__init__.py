"""Prefect blocks an operator edits in the UI (agent configuration with its secret,
repository). The package is registered with ``prefect block register -m blocks``."""
