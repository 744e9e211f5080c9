"""``gt eval``: how well each model does real work, judged by running the work's own tests.

Six parts, each its own module (imports flow down this list):

* ``work``: for each model a throwaway town, its server, one real ``gt watch --once``
  process per bead under a wall-clock budget; stops what it started on SIGTERM/SIGINT;
* ``plain``: the control, ``--runtime plain``: each bead asked in one plain prompt, with
  no loop, its answer's files committed as they come and judged the same way;
* ``judge``: the verdict, by the eval itself and never from the worker's report (the
  acceptance tests on the bead's branch, a Refinery's tests on a stub and a reference,
  a Crew answer's facts and sources, a Mayor plan's schema and order), and
  ``check_suite``: is each bead of a suite fair;
* ``report``: per bead and per model, priced as ``gt cost`` prices work; the table, the
  JSON and the SVG chart;
* ``suite``: a suite read from its folder, the models and config of ``--config``, and the
  throwaway town with the suite's project as its rig;
* ``compare``: ``--compare``, saved reports side by side, each pass rate's interval and
  whether two differ by more than sampling alone gives (its intervals serve ``report`` too).
"""

from __future__ import annotations

from gastown.evaluation.judge import (
    check_suite,
    judge_answer,
    judge_plan,
    judged,
    lay_over,
    restore,
    verify_tests,
    verify_written_tests,
)
from gastown.evaluation.report import BeadRun, ModelRun, Report, render, svg_chart
from gastown.evaluation.suite import (
    RUNTIMES,
    Options,
    Suite,
    SuiteBead,
    Workspace,
    check_models,
    default_suite,
    load_config,
    load_suite,
    prepare,
    select,
    town_toml,
)
from gastown.evaluation.work import evaluate, stop_on_signals, supervise, work_bead

__all__ = [
    "RUNTIMES",
    "BeadRun",
    "ModelRun",
    "Options",
    "Report",
    "Suite",
    "SuiteBead",
    "Workspace",
    "check_models",
    "check_suite",
    "default_suite",
    "evaluate",
    "judge_answer",
    "judge_plan",
    "judged",
    "lay_over",
    "load_config",
    "load_suite",
    "prepare",
    "render",
    "restore",
    "select",
    "stop_on_signals",
    "supervise",
    "svg_chart",
    "town_toml",
    "verify_tests",
    "verify_written_tests",
    "work_bead",
]
