"""The scenarios, one module each, run in this order by ``bench/run.py``.

A scenario module defines ``run(ctx: bench.harness.Context) -> list[Result]``
and may set ``NEEDS_HTTP = True`` (it starts gunicorn, so it needs a server
database) or ``NEEDS_POSTGRES = True``. Adding a scenario = adding its module
here and its name to ``SCENARIOS``; ``make bench SCENARIOS=a,b`` selects.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SCENARIOS = ("deadline_rush", "ledger_contention", "ranking", "letters", "instructor_list", "exports")


def load(name: str) -> ModuleType:
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return importlib.import_module(f"{__name__}.{name}")
