"""Git operations through GitPython: worktrees, branches, commits, stacking, the repository lock."""
