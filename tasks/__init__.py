"""Prefect tasks: thin wrappers that give a side effect retries, caching and a name in the UI."""
