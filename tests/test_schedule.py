import pytest

from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Size, Strategy
from planning.schedule import (build_schedule, estimates, phase_waves, plan_waves, render_mermaid,
                               summary_markdown)


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
    # sequential: 1.5 + 0.5 + 3 + 1 + 2 + 1 (S) = 9; parallel (2 agents): 2 + max(3, 2) + 1 + 1 = 7
    assert estimates(PLAN) == (9.0, 7.0)
    # one agent: the parallel phase's waves are summed
    assert estimates(PLAN, max_parallel=1) == (9.0, 9.0)


def test_schedule_critical_path_and_savings():
    schedule = build_schedule(PLAN, max_parallel=4)
    assert schedule.critical_path == ["1.1", "1.2", "2.1", "2.2", "2.4"]
    assert (schedule.critical_hours, schedule.savings_hours, schedule.savings_percent) == (7.0, 2.0, 22.2)
    assert [[w.tasks for w in p.waves] for p in schedule.phases] == [
        [["1.1"], ["1.2"]], [["2.1", "2.3"], ["2.2"], ["2.4"]]]
    text = summary_markdown(schedule)
    assert "- Parallel time (4 agents): 7h" in text and "1.1 → 1.2 → 2.1 → 2.2 → 2.4 (7h)" in text


def test_wave_spreads_over_agents_longest_first():
    phase = Phase(number=1, name="P", strategy=Strategy.parallel,
                  tasks=[task(str(i), hours=h) for i, h in enumerate([2, 3, 2, 3])])
    plan = Plan(name="x", phases=[phase])
    assert estimates(plan, max_parallel=2) == (10.0, 5.0)
    assert estimates(plan, max_parallel=5) == (10.0, 3.0)


def test_tasks_without_estimate_count_as_m():
    plan = Plan(name="x", phases=[Phase(number=1, name="A", tasks=[task("1")])])
    schedule = build_schedule(plan)
    assert (schedule.sequential_hours, schedule.assumed) == (2.0, ["1"])


def test_done_and_blocked_tasks_do_not_count():
    plan = Plan(name="x", phases=[Phase(number=1, name="A", tasks=[
        task("1", hours=1).model_copy(update={"status": "done"}),
        task("2", ["1"], hours=1),
        task("3", hours=1).model_copy(update={"status": "blocked", "blocked_reason": "why"}),
        task("4", ["3"], hours=1),
    ])])
    schedule = build_schedule(plan)
    assert schedule.sequential_hours == 1.0
    assert schedule.skipped == {"1": "already done", "3": "blocked: why",
                                "4": "depends on blocked task 3"}


def test_mermaid_has_phase_subgraphs_and_edges():
    text = render_mermaid(PLAN)
    assert text.startswith("flowchart TD\n")
    assert '  subgraph p1["Phase 2 (parallel): Build"]' in text
    assert "  t_2_2 --> t_2_4" in text and "  t_1_1 --> t_2_1" in text
