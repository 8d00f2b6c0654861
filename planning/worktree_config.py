"""How a task's worktree is made ready before its agent starts: the repository configuration.

A file ``.planflow.yaml`` at the repository root (the user's checkout), a ``worktree:`` mapping
in a markdown plan's front matter, and a file given on the command line (``--worktree-config``)
each may set::

    copy: [.env, "config/*.local.json"]   # gitignored files or globs copied from the checkout
    setup: npm run build:types            # run in the worktree (bash -e -c) before the agent
    share:                                 # heavy folders built once, then linked
      - path: node_modules
        key: [package-lock.json]           # the folder is reused while these files are unchanged
        run: npm ci                        # builds the folder in a worktree when it is missing

Later sources win key by key (file, then front matter, then command line). Paths are relative
to the repository root and stay inside it. The rules of sharing are ``gitops.prepare``'s.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planning.errors import PlanError
from planning.markdown import front_matter
from planning.yamldoc import LineList, LineMap, load_yaml

CONFIG_FILE = ".planflow.yaml"
"""The repository configuration file, at the root of the user's checkout."""


def _inside(path: str) -> str:
    """``path`` when it is relative and stays inside the repository, else ValueError."""
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or ".." in parts or (parts and parts[0] in (".git", ".worktrees")):
        raise ValueError(f"`{path}` must be a path relative to the repository root, inside it"
                         " and outside .git and .worktrees")
    return path


class Share(BaseModel):
    """A heavy folder built once per ``key`` and linked into each worktree.

    ``path``: the folder (e.g. ``node_modules``); ``key``: files whose content decides whether
    a built folder can be reused (lock files); ``run``: the command (``bash -e -c``, in the
    worktree) that builds the folder when no copy for the key exists yet.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    key: list[str] = Field(min_length=1)
    run: str

    @field_validator("path")
    @classmethod
    def _path_inside(cls, value: str) -> str:
        return _inside(value)

    @field_validator("key")
    @classmethod
    def _keys_inside(cls, value: list[str]) -> list[str]:
        return [_inside(item) for item in value]


class WorktreeConfig(BaseModel):
    """What a worktree gets before its agent starts: ``copy`` (files or globs of the user's
    checkout that git ignores, copied to the same place), ``share`` (folders linked from a
    built copy, ``Share``) and ``setup`` (a command run in the worktree, ``bash -e -c``, after
    them)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    copy_: list[str] = Field(default_factory=list, alias="copy")
    setup: str | None = None
    share: list[Share] = Field(default_factory=list)

    @field_validator("copy_")
    @classmethod
    def _copy_inside(cls, value: list[str]) -> list[str]:
        return [_inside(item) for item in value]

    @property
    def empty(self) -> bool:
        """True when it asks for nothing."""
        return not (self.copy_ or self.setup or self.share)

    def over(self, base: WorktreeConfig) -> WorktreeConfig:
        """This configuration on top of ``base``: the keys this one sets replace ``base``'s."""
        return base.model_copy(update={name: getattr(self, name) for name in self.model_fields_set})


def parse_config(data: object, source: Path | None, line: int = 1) -> WorktreeConfig:
    """A ``WorktreeConfig`` from a mapping read from ``source``; ``line``: where the mapping
    starts (for errors when it does not know its lines). Raises PlanError
    (``bad-worktree-config``) naming the file, the line of the first bad key and the fix."""
    if data is None:
        return WorktreeConfig()
    if not isinstance(data, dict):
        raise PlanError("the worktree configuration is not a mapping", source, line,
                        fix="write `copy:`, `setup:` and `share:` keys", code="bad-worktree-config")
    try:
        return WorktreeConfig.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _line_of(data, [str(part).replace("copy_", "copy") for part in first["loc"]], line)
        field = ".".join(str(part) for part in first["loc"]).replace("copy_", "copy")
        message = first["msg"].removeprefix("Value error, ")
        raise PlanError(f"worktree configuration `{field}`: {message}", source, where,
                        fix="keys: copy (list of paths or globs), setup (a command), share (a"
                            " list of {path, key, run})", code="bad-worktree-config") from exc


def _line_of(data: object, loc: list[str], line: int) -> int:
    """The line of the value at ``loc`` (keys and list indexes) in ``data``, as deep as the
    document knows it; ``line`` when it knows none."""
    for part in loc:
        if isinstance(data, LineMap) and part in data:
            line, data = data.lines.get(part, line), data[part]
        elif isinstance(data, LineList) and part.isdigit() and int(part) < len(data):
            line, data = data.lines[int(part)], data[int(part)]
        else:
            break
    return line


def load_config_file(path: Path) -> WorktreeConfig:
    """The configuration in YAML file ``path`` (top-level ``copy``/``setup``/``share``).
    Raises PlanError (file and line) for unreadable YAML or bad keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read the worktree configuration: {exc}", path, None,
                        fix="give an existing, readable YAML file", code="bad-worktree-config") from exc
    return parse_config(load_yaml(text, path), path)


def plan_config(plan_source: Path | None) -> WorktreeConfig:
    """The ``worktree:`` mapping of a markdown plan's front matter (empty when there is none).
    Raises PlanError for bad keys."""
    if plan_source is None or plan_source.suffix.lower() not in (".md", ".markdown"):
        return WorktreeConfig()
    texts = plan_source.read_text(encoding="utf-8", errors="replace").splitlines()
    meta, _ = front_matter(texts, plan_source)
    line = next((i + 1 for i, text in enumerate(texts) if text.startswith("worktree:")), 1)
    return parse_config(meta.get("worktree"), plan_source, line)


def resolve_config(repo_root: Path, plan_source: Path | None, cli_file: Path | None) -> WorktreeConfig:
    """The run's configuration: ``<repo_root>/.planflow.yaml`` (when present), under the plan's
    front matter, under ``cli_file`` (when given). Raises PlanError for a bad source."""
    config = WorktreeConfig()
    repo_file = repo_root / CONFIG_FILE
    if repo_file.is_file():
        config = load_config_file(repo_file)
    config = plan_config(plan_source).over(config)
    if cli_file is not None:
        config = load_config_file(cli_file).over(config)
    return config
