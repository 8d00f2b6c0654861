"""Where the shared corpus of real plans lives (beside the repository), or None."""

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2] / "shared" / "corpus"

CORPUS: Path | None = _ROOT if _ROOT.is_dir() else None
