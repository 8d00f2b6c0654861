import pytest

from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Size, Strategy
from planning.schedule import estimates, phase_waves, plan_waves, render_dry_run


def task(task_id, deps=(), hours=None, size=None, files=("a.py",)):
    return PlanTask(id=task_id, title=f"T{task_id}", dependencies=list(deps), hours=hours, size=size,
                    files=list(files))


def ids(waves):
    return [[t.id for t in wave] for wave in waves]


PARALLEL = Phase(number=2, name="Build", strategy=Strategy.parallel, max_parallel=2, tasks=[
    task("2.1", ["1.1"], hours=3), task("2.2", ["2.1"], hours=1), task("2.3", hours=2),
    task("2.4", ["2.2", "2.3"], size=Size.S),
])
SEQUENTIAL = Phase(number=1, name="Base", tasks=[task("1.1", hours=1.5), task("1.2", hours=0.5, files=())])
PLAN = Plan(name="demo", run_id="a1b2c3", phases=[SEQUENTIAL, PARALLEL])


def test_parallel_waves_follow_same_phase_dependencies():
    assert ids(phase_waves(PARALLEL)) == [["2.1", "2.3"], ["2.2"], ["2.4"]]


def test_sequential_phase_is_one_task_per_wave():
    assert ids(phase_waves(SEQUENTIAL)) == [["1.1"], ["1.2"]]
    assert [ids(w) for w in plan_waves(PLAN)] == [[["1.1"], ["1.2"]], [["2.1", "2.3"], ["2.2"], ["2.4"]]]


def test_cycle_inside_parallel_phase_raises():
    phase = Phase(number=1, name="X", strategy=Strategy.parallel,
                  tasks=[task("1.1", ["1.2"]), task("1.2", ["1.1"])])
    with pytest.raises(PlanError) as info:
        phase_waves(phase)
    assert info.value.code == "dependency-cycle"


def test_estimates():
    # sequential: 1.5 + 0.5 + 3 + 1 + 2 + 2 (S) = 10; parallel: 2 + max(3, 2) + 1 + 2 = 8
    assert estimates(PLAN) == (10.0, 8.0)


def test_render_dry_run():
    assert render_dry_run(PLAN) == """\
Plan: demo (run a1b2c3)

Phase 1 (sequential): Base
  Wave 1:
    1.1  T1.1  [1.5h]
      files: a.py
  Wave 2:
    1.2  T1.2  [0.5h]
      files: (none)

Phase 2 (parallel): Build, max_parallel 2
  Wave 1:
    2.1  T2.1  [3h]
      files: a.py
      depends on: 1.1
    2.3  T2.3  [2h]
      files: a.py
  Wave 2:
    2.2  T2.2  [1h]
      files: a.py
      depends on: 2.1
  Wave 3:
    2.4  T2.4  [S, 2h]
      files: a.py
      depends on: 2.2, 2.3

Total: 6 tasks in 2 phases; sequential 10h, parallel estimate 8h
"""


def test_render_counts_tasks_without_estimate():
    plan = Plan(name="x", phases=[Phase(number=1, name="A", tasks=[task("1")])])
    text = render_dry_run(plan)
    assert "1  T1  [?]" in text
    assert text.endswith("sequential 0h, parallel estimate 0h (1 tasks without estimate)\n")
