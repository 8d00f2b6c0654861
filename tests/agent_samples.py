"""Where the captured real CLI outputs live (beside the repository), or None."""

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2] / "shared" / "agents" / "samples"

SAMPLES: Path | None = _ROOT if _ROOT.is_dir() else None
