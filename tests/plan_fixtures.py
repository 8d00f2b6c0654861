"""Small plans, one per format, written for the tests: (file name, text). Each declares the
files its tasks change, so ``APPEND_TO_FILES`` can run it end to end."""

SPECKIT = ("tasks.md", """\
# Tasks: Greeter

## Phase 1: Setup

- [x] T001 Create the package in greeter/__init__.py
- [ ] T002 Add the settings in greeter/settings.py

**Checkpoint**: the package imports

## Phase 2: Features

- [ ] T003 [P] [US1] Add the greeting in greeter/hello.py
- [ ] T004 [P] [US2] Add the farewell in greeter/bye.py
- [ ] T005 Wire both into greeter/cli.py
""")

AUTOSPEC = ("tasks.yaml", """\
tasks:
  branch: "001-greeter"
summary:
  total_tasks: 4
phases:
  - number: 1
    title: "Setup"
    tasks:
      - id: "T001"
        title: "Create the package"
        status: "Completed"
        type: "setup"
        parallel: false
        file_path: "greeter/__init__.py"
        dependencies: []
      - id: "T002"
        title: "Add the greeting"
        status: "Pending"
        type: "implementation"
        parallel: true
        file_path: "greeter/hello.py"
        dependencies: ["T001"]
        acceptance_criteria: ["greet() returns a string"]
  - number: 2
    title: "Extras"
    tasks:
      - id: "T003"
        title: "Add the farewell"
        status: "Blocked"
        blocked_reason: "waiting for copy"
        type: "implementation"
        parallel: false
        file_path: "greeter/bye.py"
        dependencies: ["T002"]
      - id: "T004"
        title: "Document the farewell"
        status: "Pending"
        type: "documentation"
        parallel: false
        file_path: "docs/bye.md"
        dependencies: ["T003"]
_meta:
  artifact_type: "tasks"
""")

DROIDZ = ("tasks.md", """\
# Tasks: Greeter

## Phase 1: Foundation (Sequential)

### Task 1.1: Package
- [ ] Create greeter/__init__.py
- Dependencies: None

## Phase 2: Parallel Implementation

### Task Group A: Greeting
- [ ] Create greeter/hello.py
- Dependencies: Phase 1 complete
- Estimated: S

### Task Group B: Farewell
- [ ] Create greeter/bye.py
- Dependencies: Phase 1 complete
- Estimated: M

## Phase 3: Integration (Sequential)

### Task 3.1: Command line
- [ ] Create greeter/cli.py
- Dependencies: Task Group A, Task Group B
""")

DROIDZ_GROUPS = ("tasks.md", """\
# Tasks List for Greeter

## Task Group 1: Setup & Infrastructure

### Task 1.1: Package
- **Description**: Create greeter/__init__.py
- **Dependencies**: None
- **Acceptance Criteria**:
  - the package imports
- **Complexity**: Small

### Task 1.2: Settings
- **Description**: Create greeter/settings.py
- **Dependencies**: 1.1
- **Complexity**: Medium
""")

CHOPSTACK_V1 = ("plan.yaml", """\
tasks:
  - id: base
    title: Create the package
    description: Create the package
    touches: []
    produces: [greeter/__init__.py]
    requires: []
    agentPrompt: Create greeter/__init__.py
  - id: hello
    title: Add the greeting
    description: Add the greeting
    touches: [greeter/__init__.py]
    produces: [greeter/hello.py]
    requires: [base]
    agentPrompt: Add greeter/hello.py
  - id: bye
    title: Add the farewell
    description: Add the farewell
    touches: []
    produces: [greeter/bye.py]
    requires: [base]
    agentPrompt: Add greeter/bye.py
""")

CHOPSTACK_V2 = ("plan.yaml", """\
name: Greeter
strategy: phased-parallel
phases:
  - id: phase-1
    name: Foundation
    strategy: sequential
    tasks: [task-1]
  - id: phase-2
    name: Features
    strategy: parallel
    requires: [phase-1]
    tasks: [task-2, task-3]
tasks:
  - id: task-1
    name: Package
    complexity: S
    files: [greeter/__init__.py]
    dependencies: []
  - id: task-2
    name: Greeting
    complexity: M
    estimated_hours: 1.5
    files: [greeter/hello.py (new)]
    dependencies: [task-1]
  - id: task-3
    name: Farewell
    complexity: XS
    files: [greeter/bye.py]
    dependencies: [task-1]
    acceptance_criteria: [bye() returns a string]
""")

JSON_PLAN = ("plan.json", """\
{
  "runId": "0729be",
  "featureSlug": "greeter",
  "phases": [
    {"id": 1, "name": "Foundation", "strategy": "sequential",
     "tasks": [{"id": "1-1", "name": "Package", "description": "Create the package",
                "files": ["greeter/__init__.py"], "dependencies": []}]},
    {"id": 2, "name": "Features", "strategy": "parallel",
     "tasks": [
       {"id": "2-1", "name": "Greeting", "description": "Add the greeting",
        "files": ["greeter/hello.py"], "acceptanceCriteria": ["greet() works"],
        "dependencies": ["1-1"]},
       {"id": "2-2", "name": "Farewell", "description": "Add the farewell",
        "files": ["greeter/bye.py"]}
     ]}
  ]
}
""")

SPECTACULAR = ("plan.md", """\
# Feature: Greeter - Implementation Plan

## Phase 1: Foundation

### Task 1.1: Package

**Files**:
- greeter/__init__.py

**Complexity**: S (1h)

**Dependencies**: None

## Phase 2: Features (Parallel)

### Task 2.1: Greeting

**Files**:
- greeter/hello.py

**Complexity**: M (2h)

**Dependencies**: Task 1.1

### Task 2.2: Farewell

**Files**:
- greeter/bye.py

**Complexity**: L

**Dependencies**: Task 1.1
""")

NATIVE = ("plan.yaml", """\
name: greeter
phases:
  - name: Foundation
    tasks:
      - id: "1.1"
        title: Package
        files: [greeter/__init__.py]
  - name: Features
    strategy: parallel
    tasks:
      - id: "2.1"
        title: Greeting
        files: [greeter/hello.py]
        depends_on: ["1.1"]
      - id: "2.2"
        title: Farewell
        files: [greeter/bye.py]
        size: S
""")

BY_FORMAT = {
    "spectacular": SPECTACULAR,
    "speckit": SPECKIT,
    "droidz": DROIDZ,
    "native": NATIVE,
    "autospec": AUTOSPEC,
    "chopstack": CHOPSTACK_V2,
    "json": JSON_PLAN,
}
"""One fixture per format name of ``planning.loader.FORMATS``."""
