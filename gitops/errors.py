"""Errors of the git layer.

    GitError          a git command failed; carries operation, command, exit_code, stdout, stderr
    StackConflict     stacking task branches hit a cherry-pick conflict; carries the two tasks,
                      the conflicting files and the branches, ``report()`` explains how to resolve

Opening something that is not a usable git repository raises ``ValueError``; a branch that
cannot be moved because a worktree has it checked out also raises ``ValueError``.
"""

from __future__ import annotations

import shlex

from planning.redaction import redact


def shown(text: str) -> str:
    """``text`` safe to show and to serialise: bytes that were not UTF-8 (kept as surrogates by
    ``surrogateescape``, e.g. in a file name git printed) become ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class GitError(Exception):
    """A git command exited non-zero.

    Attributes: ``operation`` (what planflow was doing, e.g. ``"create worktree"``),
    ``command`` (argv, starting with ``git``), ``exit_code``, ``stdout`` and ``stderr`` (text,
    redacted: a remote URL with a token must not reach a message).
    """

    def __init__(self, operation: str, command: list[str], exit_code: int, stdout: str, stderr: str) -> None:
        self.operation = operation
        self.command = [redact(shown(arg)) for arg in command]
        self.exit_code = exit_code
        self.stdout = redact(shown(stdout))
        self.stderr = redact(shown(stderr))
        super().__init__(str(self))

    def __str__(self) -> str:
        detail = self.stderr.strip() or self.stdout.strip() or "no output"
        return f"{self.operation} failed: `{shlex.join(self.command)}` exited {self.exit_code}: {detail}"


class StackConflict(Exception):
    """Applying task ``task``'s commits on top of the earlier tasks conflicted.

    Attributes: ``task`` (label of the entry being applied); ``other`` (label of the earliest
    earlier entry whose changes touch the conflicting files, None when none does, i.e. the
    conflict is with the base); ``files`` (conflicting paths); ``branches`` ({label: branch} of
    ``task`` and ``other``; both branches are left where they were); ``base`` (the commit the
    stack was being built on); ``notes`` (lines a caller adds, e.g. why a resolver failed,
    shown at the end of ``report()``).
    """

    def __init__(self, task: str, other: str | None, files: list[str], branches: dict[str, str], base: str) -> None:
        self.task = task
        self.other = other
        self.files = files
        self.branches = branches
        self.base = base
        self.notes: list[str] = []
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line: which tasks conflict in which files."""
        against = f"task {self.other}" if self.other is not None else "the base"
        return f"task {self.task} conflicts with {against} in {', '.join(self.files) or 'unknown files'}"

    def report(self) -> str:
        """Multi-line human text: the two tasks, the files, where their branches are, how to resolve."""
        mine = self.branches.get(self.task, "?")
        lines = [f"Stacking conflict: {self.summary()}.", "Conflicting files:"]
        lines += [f"  {path}" for path in self.files] or ["  (git reported none)"]
        lines.append("Branches (left unchanged):")
        lines += [f"  task {label}: {branch}" for label, branch in self.branches.items()]
        onto = self.branches[self.other] if self.other is not None else self.base
        lines += [
            "To resolve:",
            f"  1. in a separate worktree, rebase task {self.task}'s branch onto the other side:",
            f"       git worktree add ../resolve-{self.task} {mine}",
            f"       cd ../resolve-{self.task} && git rebase {onto}",
            f"  2. fix the conflicts in {', '.join(self.files) or 'the files git lists'},"
            " then `git add` them and `git rebase --continue`;",
            f"  3. remove that worktree and stack again with {mine}'s new tip as task {self.task}'s tip.",
        ]
        return "\n".join(lines + self.notes)
