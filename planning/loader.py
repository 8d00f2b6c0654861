"""Read a plan file in any known format.

``FORMATS`` maps a format name to its parser ``(text, source) -> Plan``; add an entry (and a
rule in :func:`detect_format`) to support another format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from planning.abspaths import map_absolute_paths
from planning.autospec import parse_autospec
from planning.chopstack import parse_chopstack
from planning.droidz import HEADINGS as DROIDZ_LINES
from planning.droidz import parse_droidz
from planning.errors import PlanError
from planning.jsonplan import parse_json_plan
from planning.models import Plan
from planning.native import PLAN_KEYS, parse_native
from planning.phasefiles import is_phase_file, parse_phase_files, phase_files
from planning.speckit import TASK_LINE, parse_speckit
from planning.speckitty import WORK_PACKAGE, parse_speckitty
from planning.spectacular import parse_spectacular
from planning.taskmaster import TASKS_LIST, parse_taskmaster

Parser = Callable[[str, Path | None], Plan]

FORMATS: dict[str, Parser] = {
    "spectacular": parse_spectacular,
    "speckit": parse_speckit,
    "droidz": parse_droidz,
    "native": parse_native,
    "autospec": parse_autospec,
    "chopstack": parse_chopstack,
    "json": parse_json_plan,
    "taskmaster": parse_taskmaster,
    "speckitty": parse_speckitty,
}

MAX_PLAN_BYTES = 4 * 1024 * 1024
"""The largest plan file ``load_plan`` reads (4 MiB; a 500-task plan is about 0.5 MiB)."""

_MARKDOWN = {".md", ".markdown"}
_YAML = {".yaml", ".yml"}
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.M)
_AUTOSPEC_PHASE = re.compile(r"^\s+-\s+number\s*:", re.M)


def detect_format(path: Path, text: str) -> str:
    """The format name of a plan, from its suffix and content.

    Markdown with ``## Work Package WP01`` sections -> ``speckitty``. ``.json`` -> ``taskmaster`` when it has a ``"tasks": [`` list and no ``"phases"``, else
    ``json``. Markdown (``.md``): ``speckit`` when it has ``- [ ] T001`` task
    lines, ``droidz`` when it has task groups or ``- Dependencies:`` bullets, else
    ``spectacular``. YAML (``.yaml``/``.yml``, or no suffix): by top-level keys: only
    ``name``/``run_id``/``spec``/``phases`` -> ``native``; ``summary``, ``_meta`` or numbered
    phases -> ``autospec``; ``tasks`` or ``phases`` -> ``chopstack``; other ``.yaml`` -> ``native`` (whose errors say
    what is missing). Raises PlanError (``unknown-format``, line 1) when nothing matches.
    """
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix not in _MARKDOWN | _YAML and text.lstrip().startswith("{")):
        return "taskmaster" if TASKS_LIST.search(text) and '"phases"' not in text else "json"
    if suffix in _MARKDOWN or (suffix not in _YAML and re.search(r"^#{1,3}\s", text, re.M)):
        if WORK_PACKAGE.search(text):
            return "speckitty"
        if TASK_LINE.search(text):
            return "speckit"
        return "droidz" if DROIDZ_LINES.search(text) else "spectacular"
    keys = set(_TOP_KEY.findall(text))
    if "phases" in keys and keys <= set(PLAN_KEYS):
        return "native"
    if keys & {"summary", "_meta"} or ("phases" in keys and _AUTOSPEC_PHASE.search(text)):
        return "autospec"
    if keys & {"tasks", "phases"}:
        return "chopstack"
    if suffix in _YAML:
        return "native"
    raise PlanError(
        "cannot tell the plan's format", path, 1,
        fix=f"pass the format with --format ({', '.join(FORMATS)})", code="unknown-format",
    )


def load_plan(path: Path, format: str | None = None, repo: Path | None = None) -> Plan:
    """Read and parse the plan at ``path``.

    ``format`` is a key of ``FORMATS``; None detects it with :func:`detect_format`. ``repo``:
    the repository the plan runs in, used to choose the prefix of absolute file paths to map
    (``planning.abspaths``). Returns the parsed Plan (``source`` set to ``path``). Raises PlanError for an unknown format name
    (``unknown-format``), a symlink to a file outside the link's own folder (``plan-symlink``),
    something that is not a regular file or cannot be read as UTF-8 text (``plan-unreadable``),
    a file over ``MAX_PLAN_BYTES`` (``plan-too-large``), or anything the format's parser rejects.
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise PlanError(f"unknown plan format {format!r}", path,
                        fix=f"use one of: {', '.join(FORMATS)}", code="unknown-format")
    if path.is_dir() and not path.is_symlink() and format in (None, "spectacular"):
        plan = parse_phase_files(path, [(file, _read_text(file)) for file in phase_files(path)])
        return map_absolute_paths(plan, repo)
    text = _read_text(path)
    if format is None and is_phase_file(path, text):
        raise PlanError(f"this file is one phase of the plan in {path.parent}/", path, 1,
                        fix=f"pass the folder instead: `planflow validate {path.parent}/`",
                        code="phase-file")
    return map_absolute_paths(FORMATS[format or detect_format(path, text)](text, path), repo)


def _read_text(path: Path) -> str:
    """The plan file's text, after the symlink, file-type and size checks of ``load_plan``."""
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise PlanError(f"the plan is a symlink to {path.resolve()}, outside its folder", path,
                        fix="copy the plan next to where it is used, or pass the target's path",
                        code="plan-symlink")
    try:
        if not path.resolve().is_file():
            raise OSError(f"{path} is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_PLAN_BYTES + 1)
        if len(data) > MAX_PLAN_BYTES:
            raise PlanError(f"the plan is larger than {MAX_PLAN_BYTES // (1024 * 1024)} MiB", path,
                            fix="split it into several plans", code="plan-too-large")
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")  # BOM, CRLF dropped
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the plan: {exc}", path,
                        fix="check the path and that the file is UTF-8 text",
                        code="plan-unreadable") from exc
