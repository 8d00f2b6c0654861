"""Coding-agent adapters (argv, env, output parsing) and the one process runner."""
