"""Time limits per state, declared per workflow in
``workflows/time_limits/<workflow>.yaml``:

    eligibility_check: {days: 10, working: true}    # 10 working days
    instruction: {days: 60}                          # 60 calendar days

The clock starts when the file first enters the state and stops while the
file waits for corrections (the pauses recorded by the app)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import yaml

from .deadlines import calendar_deadline_with_pauses, deadline_with_pauses
from .model import Definition

LIMITS_DIR = Path(__file__).resolve().parent / "time_limits"


@dataclass(frozen=True)
class TimeLimit:
    days: int
    working: bool = False

    def due(self, start: date, pauses: Iterable[tuple[date, date]], department: str | None) -> date:
        if self.working:
            return deadline_with_pauses(start, self.days, pauses, department)
        return calendar_deadline_with_pauses(start, self.days, pauses)


def parse_limits(data: object, definition: Definition | None = None) -> tuple[dict[str, TimeLimit], list[str]]:
    problems: list[str] = []
    limits: dict[str, TimeLimit] = {}
    if not isinstance(data, dict):
        return {}, ["les délais doivent être un dictionnaire état → {days, working}"]
    for state, spec in data.items():
        if definition is not None and state not in definition.states:
            problems.append(f"état inconnu « {state} »")
            continue
        if definition is not None and definition.is_final(state):
            problems.append(f"l'état « {state} » est final : pas de délai")
            continue
        if not isinstance(spec, dict) or set(spec) - {"days", "working"}:
            problems.append(f"{state} : attendu {{days, working}}")
            continue
        days, working = spec.get("days"), spec.get("working", False)
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            problems.append(f"{state} : « days » doit être un entier positif")
            continue
        if not isinstance(working, bool):
            problems.append(f"{state} : « working » doit être true ou false")
            continue
        limits[state] = TimeLimit(days, working)
    return limits, problems


@lru_cache(maxsize=32)
def _load(name: str) -> tuple[tuple[str, TimeLimit], ...]:
    path = LIMITS_DIR / f"{name}.yaml"
    if not path.exists():
        return ()
    limits, problems = parse_limits(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    if problems:
        raise ValueError(f"{path.name}: " + " ; ".join(problems))
    return tuple(limits.items())


def load_limits(name: str) -> dict[str, TimeLimit]:
    return dict(_load(name))


def check_all_limits() -> dict[str, list[str]]:
    from .loader import load_definition

    results = {}
    for path in sorted(LIMITS_DIR.glob("*.yaml")):
        try:
            definition = load_definition(path.stem)
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            results[f"time_limits/{path.stem}"] = [f"pas de workflow « {path.stem} » : {exc}"]
            continue
        _limits, problems = parse_limits(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, definition)
        results[f"time_limits/{path.stem}"] = problems
    return results
