"""Where the shared corpus of real plans lives (beside the repository), or None."""

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2] / "shared" / "corpus"

CORPUS: Path | None = _ROOT if _ROOT.is_dir() else None

REAL_PLANS = [
    ("spectacular/specs__0de4e1-testing-system__plan.md", 3, 5, 4),
    ("spectacular/specs__8c8505-cognitive-load-reduction__plan.md", 4, 4, 5),
    ("spectacular/specs__91a61e-worktree-isolation__plan.md", 2, 5, 4),
    ("spectacular/specs__93a61e-worktree-isolation__plan.md", 3, 6, 5),
    ("spectacular/specs__dedf14-worktree-isolation__plan.md", 1, 3, 0),
    ("spectacular/docs__plans__2026-01-22-multi-repo-implementation-plan.md", 4, 12, 11),
    ("spectacular/docs__plans__2026-01-22-multi-repo-support-design.md", 3, 6, 0),
    ("spectacular-codex/specs__98ae37-spectacular-codex__plan.md", 5, 18, 28),
    ("spectacular-codex/docs__examples__parallel-execution.md", 4, 9, 0),
    ("spectacular-codex/docs__examples__resume-from-failure.md", 3, 7, 0),
]
"""Every real spectacular plan in the corpus: (file, phases, tasks, dependency edges), counted
by reading each file."""
