"""The pure parts of verification and context handoff: files outside a task's declared files,
the agent's ``DECISION:``/``PENDING:`` lines, merging a phase's records, the prompt's bound."""

from __future__ import annotations

from planning.handoff import (ContextRecord, handoff_for, load_records, merge_by_phase, parse_notes,
                              render, save_record)
from planning.scope import files_outside


def test_files_outside_declared_paths_folders_and_globs():
    declared = ["src/app.py", "docs/", "tests/*.py", "./conf"]
    changed = ["src/app.py", "src/other.py", "docs/a/b.md", "tests/test_x.py", "tests/data/x.json",
               "conf/settings.toml", "README.md"]
    assert files_outside(declared, changed) == ["src/other.py", "tests/data/x.json", "README.md"]
    assert files_outside([], changed) == []


def test_parse_notes_reads_decisions_and_pending_actions():
    message = """Done.
DECISION: store users in sqlite
- **PENDING**: add an index on email
* decision: keep the API synchronous
Note: DECISION: inside a sentence is not one
"""
    assert parse_notes(message) == (["store users in sqlite", "keep the API synchronous"],
                                    ["add an index on email"])


def test_merge_unions_files_concatenates_decisions_dedups_pending_collects_errors():
    records = [
        ContextRecord(task_id="1.1", phase=1, title="a", files=["b.py", "a.py"], decisions=["d1"],
                      pending=["write docs"], errors=["attempt 1: quality gate 1 failed (exit 1)"],
                      tokens_in=10, tokens_out=1),
        ContextRecord(task_id="1.2", phase=1, title="b", files=["a.py", "c.py"], decisions=["d2"],
                      pending=["write docs", "add CI"], tokens_in=5, tokens_out=2),
        ContextRecord(task_id="2.1", phase=2, title="c", files=["z.py"]),
    ]
    first, second = merge_by_phase(records)
    assert first.tasks == ["1.1", "1.2"] and first.files == ["a.py", "b.py", "c.py"]
    assert first.decisions == ["1.1: d1", "1.2: d2"]
    assert first.pending == ["write docs", "add CI"]
    assert first.errors == ["1.1: attempt 1: quality gate 1 failed (exit 1)"]
    assert (first.tokens_in, first.tokens_out) == (15, 3)
    assert [p.phase for p in merge_by_phase(records, before=2)] == [1] and second.files == ["z.py"]


def test_render_stays_under_the_bound_by_dropping_the_oldest_phases():
    phases = merge_by_phase([
        ContextRecord(task_id=f"{n}.1", phase=n, title="t", files=[f"f{i}.py" for i in range(100)],
                      decisions=["x" * 1000] * 3)
        for n in range(1, 6)
    ])
    text = render(phases, max_chars=3000)
    assert len(text) <= 3000
    assert "### Phase 5" in text and "### Phase 1" not in text
    assert "left out to stay under 3000 characters" in text
    assert "and 60 more" in text and "x" * 300 not in text
    full = render(phases, max_chars=None)
    assert "### Phase 1" in full and "x" * 1000 in full and "Tokens: 0 in" in full
    assert render([]) == ""


def test_records_round_trip_and_the_handoff_keeps_only_stacked_earlier_work(tmp_path):
    for task_id, phase, commit in (("1.10", 1, "c3"), ("1.2", 1, "c2"), ("1.3", 1, None), ("2.1", 2, "c4")):
        save_record(tmp_path, ContextRecord(task_id=task_id, phase=phase, title="t", commit=commit,
                                            decisions=[f"from {task_id}"]))
    assert [r.task_id for r in load_records(tmp_path)] == ["1.2", "1.3", "1.10", "2.1"]
    text = handoff_for(tmp_path, 2, {"c2", "c4"})
    assert "from 1.2" in text and "from 1.10" not in text and "from 2.1" not in text
    assert handoff_for(tmp_path, 1, {"c2"}) is None
    assert load_records(tmp_path / "missing") == []
