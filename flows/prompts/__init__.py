"""The prompt templates of the authoring flows (markdown with ``$name`` placeholders)."""

from __future__ import annotations

from importlib.resources import files
from string import Template


def render(name: str, **values: str) -> str:
    """The template ``flows/prompts/{name}.md`` with its ``$placeholders`` replaced by
    ``values``. Raises KeyError when a placeholder has no value, FileNotFoundError when there
    is no such template."""
    text = files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Template(text).substitute(values)
