import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIGHER = {"prefect", "git", "agents", "gitops", "tasks", "flows", "planflow"}

PROBE = """
import sys
import planning.loader, planning.validate, planning.schedule
print(",".join(sorted(n for n in sys.modules if n.split(".")[0] in %r)))
""" % (HIGHER,)


def test_importing_planning_loads_no_prefect_git_or_higher_layer():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""


def test_planning_imports_only_stdlib_pydantic_and_yaml():
    allowed = set(sys.stdlib_module_names) - {"subprocess", "multiprocessing"} | {
        "pydantic", "yaml", "planning", "__future__"}
    for path in sorted((ROOT / "planning").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
