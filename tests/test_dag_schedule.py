"""``planning.dag``: effective dependencies, the default mode, and the scheduler's decisions
(which task starts, from which stack prefix, when a branch is stacked) and the dry run's mode
and estimate, without Prefect or git."""

from __future__ import annotations

import json
import random

import pytest

from planflow.cli import main

from planning.dag import (
    DagScheduler,
    ScheduleMode,
    default_mode,
    effective_dependencies,
    global_waves,
    wave_barriers,
)
from planning.models import Phase, Plan, PlanTask, Strategy


def phase(number: int, *tasks: tuple[str, list[str]], strategy: str = "parallel",
          max_parallel: int | None = None) -> Phase:
    return Phase(number=number, name=f"p{number}", strategy=Strategy(strategy), max_parallel=max_parallel,
                 tasks=[PlanTask(id=i, title=i, dependencies=deps) for i, deps in tasks])


def scheduler(phases: list[Phase], max_parallel: int = 4, held: list[str] = ()) -> DagScheduler:
    tasks = [task for p in phases for task in p.tasks]
    groups = {task.id: p.number for p in phases for task in p.tasks}
    limits = {p.number: 1 if p.strategy is Strategy.sequential else (p.max_parallel or max_parallel)
              for p in phases}
    return DagScheduler(tasks, effective_dependencies(phases), max_parallel, held, groups, limits)


def test_effective_dependencies_add_sequential_order_and_phase_order_only_where_none_is_declared():
    phases = [phase(1, ("a", []), ("b", [])),
              phase(2, ("c", ["a"]), ("d", [])),
              phase(3, ("e", []), ("f", []), strategy="sequential")]
    assert effective_dependencies(phases) == {
        "a": [], "b": [], "c": ["a"], "d": ["a", "b"], "e": ["c", "d"], "f": ["e"]}
    # a skipped task passes its dependencies on; one outside the phases is met
    assert effective_dependencies(phases, skip=["c"])["e"] == ["a", "d"]
    assert effective_dependencies(phases[1:]) == {"c": [], "d": [], "e": ["c", "d"], "f": ["e"]}


def test_default_mode_is_dag_only_when_no_task_relies_on_phase_order():
    explicit = Plan(name="x", phases=[phase(1, ("a", []), ("b", [])), phase(2, ("c", ["a"]))])
    implicit = Plan(name="y", phases=[phase(1, ("a", [])), phase(2, ("c", ["a"]), ("d", []))])
    none = Plan(name="z", phases=[phase(1, ("a", []), ("b", []))])
    assert default_mode(explicit) is ScheduleMode.dag
    assert default_mode(implicit) is ScheduleMode.phases
    assert default_mode(none) is ScheduleMode.phases


def test_a_task_starts_when_its_own_dependencies_are_stacked_from_the_prefix_ending_at_them():
    # a -> c, b (slow) -> d: c must not wait for b
    s = scheduler([phase(1, ("a", []), ("b", [])), phase(2, ("c", ["a"]), ("d", ["b"]))])
    assert s.start_next() == ["a", "b"]
    s.finish("a")
    assert s.take_stackable() == ["a"]
    assert s.start_next() == ["c"] and s.base_index("c") == 1
    s.finish("b")
    assert s.take_stackable() == ["b"]
    assert s.start_next() == ["d"] and s.base_index("d") == 2  # the stack a, b ends at b
    s.finish("d")
    assert s.take_stackable() == []  # nothing waits for d: it waits for c, before it in plan order
    s.finish("c")
    assert s.take_stackable() == ["c", "d"] and s.stack == ["a", "b", "c", "d"]
    assert s.start_next() == [] and s.running == 0


def test_a_finished_task_that_another_needs_is_stacked_out_of_plan_order():
    s = scheduler([phase(1, ("a", []), ("b", [])), phase(2, ("c", ["b"]))])
    s.start_next()
    s.finish("b")
    assert s.take_stackable() == ["b"]  # a still runs, but c waits for b alone
    assert s.start_next() == ["c"] and s.base_index("c") == 1


def test_tasks_finishing_together_are_stacked_in_plan_order():
    s = scheduler([phase(1, ("a", []), ("b", []), ("c", []))])
    s.start_next()
    for task_id in ("c", "a"):
        s.finish(task_id)
    assert s.take_stackable() == ["a"]
    s.finish("b")
    assert s.take_stackable() == ["b", "c"]


def test_max_parallel_and_phase_limits_hold():
    s = scheduler([phase(1, ("a", []), ("b", []), ("c", []), max_parallel=2),
                   phase(2, ("d", []), ("e", []), strategy="sequential")], max_parallel=3)
    # d depends on phase 1 (declares nothing), e follows d
    assert s.start_next() == ["a", "b"]
    s.finish("a")
    assert s.start_next() == ["c"]
    assert s.running == 2


def test_global_limit_caps_all_phases():
    s = scheduler([phase(1, ("a", []), ("b", [])), phase(2, ("c", ["a"]), ("d", ["a"]))],
                  max_parallel=2)
    assert s.start_next() == ["a", "b"]
    s.finish("a")
    s.take_stackable()
    assert s.start_next() == ["c"]  # b still runs: one slot left


def test_a_failed_task_drops_its_dependants_but_not_unrelated_tasks():
    s = scheduler([phase(1, ("a", []), ("b", [])),
                   phase(2, ("c", ["a"]), ("d", ["b"])), phase(3, ("e", ["c"]))])
    s.start_next()
    assert s.fail("a") == ["c", "e"]
    s.finish("b")
    assert s.take_stackable() == ["b"]
    assert s.start_next() == ["d"]


def test_held_order_is_replayed_so_bases_repeat():
    phases = [phase(1, ("a", []), ("b", [])), phase(2, ("c", ["a"]), ("d", ["b"]))]
    s = scheduler(phases, held=["b", "a", "d", "c"])
    s.start_next()
    s.finish("a")
    assert s.take_stackable() == []  # b comes first, as last time
    s.finish("b")
    assert s.take_stackable() == ["b", "a"]
    assert s.start_next() == ["c", "d"]
    assert (s.base_index("c"), s.base_index("d")) == (2, 1)
    s.finish("c")
    assert s.take_stackable() == []
    s.finish("d")
    assert s.take_stackable() == ["d", "c"]


def test_a_new_task_is_stacked_after_the_held_ones_unless_a_held_one_waits_for_it():
    # last run stacked a and c; b is new; c now depends on b
    s = scheduler([phase(1, ("a", []), ("b", [])), phase(2, ("c", ["b"]))], held=["a", "c"])
    assert s.start_next() == ["a", "b"]
    s.finish("b")
    assert s.take_stackable() == []  # a is running and comes first
    s.finish("a")
    assert s.take_stackable() == ["a", "b"]
    # c was stacked first last time but now waits for b: passed over, b goes first
    s2 = scheduler([phase(1, ("a", []), ("b", [])), phase(2, ("c", ["b"]))], held=["c", "a"])
    s2.start_next()
    s2.finish("b")
    s2.finish("a")
    assert s2.take_stackable() == ["a", "b"]
    assert s2.start_next() == ["c"] and s2.base_index("c") == 2


def test_held_order_is_made_topological_through_tasks_it_does_not_name():
    # a -> b -> c; the file names c before a (b is new): c must still come after a
    phases = [phase(1, ("a", []), ("b", ["a"]), ("c", ["b"]), ("d", []))]
    s = scheduler(phases, held=["d", "c", "a", "c"])
    assert s.held == ["d", "a", "c"]


def test_a_long_chain_of_skipped_tasks_passes_its_dependencies_on():
    chain = phase(1, *((f"t{i}", []) for i in range(3000)), strategy="sequential")
    assert effective_dependencies([chain], skip=[f"t{i}" for i in range(1, 2999)]) == {
        "t0": [], "t2999": ["t0"]}


def test_stopped_scheduler_starts_nothing_and_still_stacks_running_work():
    s = scheduler([phase(1, ("a", []), ("b", [])), phase(2, ("c", ["a"]))], held=["c", "b"])
    s.start_next()
    s.stop()
    s.finish("a")
    s.finish("b")
    assert s.take_stackable() == ["b", "a"]  # held b first; c never starts
    assert s.start_next() == []


def test_waves_are_barriers():
    order = ["a", "b", "c", "d"]
    deps = {"a": [], "b": [], "c": ["a"], "d": ["c"]}
    waves = global_waves(order, deps)
    assert waves == [["a", "b"], ["c"], ["d"]]
    assert wave_barriers(waves)["c"] == ["a", "b"]
    with pytest.raises(ValueError, match="a, b"):
        global_waves(["a", "b"], {"a": ["b"], "b": ["a"]})


def test_dry_run_names_the_mode_and_the_dag_estimate(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("""\
name: estimate
phases:
  - name: one
    strategy: parallel
    tasks:
      - {id: a, title: a, hours: 1}
      - {id: b, title: b, hours: 4}
  - name: two
    tasks:
      - {id: c, title: c, hours: 3, depends_on: [a]}
""")
    assert main(["run", str(plan), "--dry-run", "--json"]) == 0
    schedule = json.loads(capsys.readouterr().out)
    # barriers: b (4h) then c (3h); by dependencies c runs beside b
    assert (schedule["schedule"], schedule["parallel_hours"], schedule["dag_hours"]) == ("dag", 7.0, 4.0)
    assert main(["run", str(plan), "--dry-run", "--schedule", "waves"]) == 0
    assert "Schedule: waves; with --schedule dag (4 agents): 4h" in capsys.readouterr().out


def simulate(tasks: list[PlanTask], deps: dict[str, list[str]], slots: int, held: list[str],
             rng: random.Random) -> tuple[list[str], dict[str, int]]:
    """Run a scheduler to the end, tasks ending in a random order; returns (stack, base index
    of each task), checking each step's invariants."""
    s = DagScheduler(tasks, deps, slots, held)
    bases, running = {}, []
    while True:
        for task_id in s.start_next():
            assert all(dep in s.stacked_at for dep in s.deps[task_id])
            bases[task_id] = s.base_index(task_id)
            running.append(task_id)
        assert s.running <= slots
        if not running:
            return s.stack, bases
        s.finish(running.pop(rng.randrange(len(running))))
        s.take_stackable()


def test_random_plans_stack_in_dependency_order_and_a_rerun_replays_the_same_bases():
    rng = random.Random(1)
    for _ in range(200):
        ids = [f"t{i}" for i in range(rng.randint(1, 20))]
        deps = {t: rng.sample(ids[:i], k=min(i, rng.randint(0, 3))) for i, t in enumerate(ids)}
        tasks = [PlanTask(id=t, title=t) for t in ids]
        slots = rng.randint(1, 5)
        stack, bases = simulate(tasks, deps, slots, [], rng)
        assert sorted(stack) == sorted(ids)
        assert all(stack.index(dep) < stack.index(t) for t in ids for dep in deps[t])
        # resuming from the recorded order, whatever order the tasks end in
        assert simulate(tasks, deps, slots, stack, rng) == (stack, bases)
