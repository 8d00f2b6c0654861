"""Errors of the planning layer.

    PlanError                 a plan cannot be read or is invalid; carries file, line, fix
    └── PlanValidationError   one or more validation issues of severity "error"

``Issue`` is a validation finding returned as a value (errors and warnings alike); the caller
decides when to raise ``PlanValidationError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel


class Issue(BaseModel):
    """One validation finding: ``code`` (stable, e.g. ``unknown-dependency``), ``severity``,
    ``message``, and where it is (``file``, 1-based ``line``) and how to fix it (``fix``)."""

    code: str
    severity: Literal["error", "warning"] = "error"
    message: str
    file: Path | None = None
    line: int | None = None
    fix: str | None = None

    def __str__(self) -> str:
        return format_location(self.file, self.line) + f"{self.severity}: {self.message}" + (
            f" (fix: {self.fix})" if self.fix else ""
        )


def format_location(file: Path | str | None, line: int | None) -> str:
    """``"plan.md:12: "``, ``"plan.md: "`` or ``""`` depending on what is known."""
    if file is None:
        return ""
    return f"{file}:{line}: " if line else f"{file}: "


class PlanError(Exception):
    """A plan that cannot be parsed or run.

    Attributes: ``message``; ``file`` and ``line`` (1-based) when known; ``fix`` a hint;
    ``code`` a stable machine-readable code.
    """

    def __init__(
        self,
        message: str,
        file: Path | str | None = None,
        line: int | None = None,
        fix: str | None = None,
        code: str = "plan-error",
    ) -> None:
        self.message = message
        self.file = Path(file) if file is not None else None
        self.line = line
        self.fix = fix
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        text = format_location(self.file, self.line) + self.message
        return text + (f" (fix: {self.fix})" if self.fix else "")


class PlanValidationError(PlanError):
    """Validation found errors; ``issues`` lists every finding (errors first)."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        errors = [issue for issue in issues if issue.severity == "error"]
        first = errors[0] if errors else issues[0]
        super().__init__(
            "\n".join(str(issue) for issue in errors) or str(first),
            code="plan-invalid",
        )

    def __str__(self) -> str:
        return self.message
