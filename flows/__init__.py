"""Prefect flows: the orchestration of a plan run (execute_plan, run_phase)."""
