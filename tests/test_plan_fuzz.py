"""Property: mutated real plans (the corpus, else the written fixtures) fed to every parser
raise nothing but PlanError, and whatever parses validates without raising."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import CORPUS
from plan_fixtures import BY_FORMAT, CHOPSTACK_V1, DROIDZ_GROUPS
from planning.errors import PlanError
from planning.loader import FORMATS, detect_format
from planning.validate import validate_plan


def _seeds() -> list[str]:
    texts = [text for _, text in (*BY_FORMAT.values(), CHOPSTACK_V1, DROIDZ_GROUPS)]
    if CORPUS is not None:
        by_format: dict[str, list[str]] = {}
        for path in sorted(CORPUS.rglob("*")):
            if path.is_file() and path.suffix in (".md", ".yaml", ".yml", ".json"):
                text = path.read_text()
                if len(text) < 20_000:
                    try:
                        by_format.setdefault(detect_format(path, text), []).append(text)
                    except PlanError:
                        continue
        texts += [text for group in by_format.values() for text in group[:4]]
    return texts


SEEDS = _seeds()


@st.composite
def mutated(draw) -> str:
    lines = draw(st.sampled_from(SEEDS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "swap", "insert", "cut", "indent"]))
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif action == "insert":
            lines.insert(index, draw(st.sampled_from([
                "- [ ] T999 [P] x\n", "### Task 9.9: x\n", "## Phase 0:\n", "  - id: 7\n",
                "dependencies: [T001, T001]\n", "status: Blocked\n", "{\n", "]\n", "&a [*a]\n",
                "**Dependencies**: Task 1.1, Task 9\n", "    requires: [nope]\n", "\t\x00\n",
            ])))
        elif action == "cut":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        else:
            lines[index] = "  " + lines[index]
    return "".join(lines)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated(), name=st.sampled_from(sorted(FORMATS)))
def test_parsers_raise_only_plan_error(text, name):
    try:
        plan = FORMATS[name](text, Path("plan"))
    except PlanError as exc:
        assert exc.line is not None
        return
    validate_plan(plan)
