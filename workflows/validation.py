"""Semantic validation of a :class:`Definition` against the registry."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from .errors import Problem
from .model import ROLES, STAGES, Definition
from .registry import REGISTRY, Registry, check_params


def validate(definition: Definition, registry: Registry | None = None) -> list[Problem]:
    """Every fault of ``definition``; an empty list means it is usable.

    Checks: initial state, unknown states/stages/roles, transitions without
    roles, duplicate (transition, source state) pairs, unknown guards/effects
    and their parameters, final states with exits, unreachable states, dead
    ends and states from which no final state can be reached.
    """
    registry = registry or REGISTRY
    problems: list[Problem] = []
    states = definition.states

    if not definition.initial:
        problems.append(Problem("initial_missing", "état initial (initial) manquant"))
    elif definition.initial not in states:
        problems.append(Problem("unknown_state", f"état initial « {definition.initial} » non déclaré"))

    for state in states.values():
        if state.stage not in STAGES:
            problems.append(
                Problem(
                    "unknown_stage",
                    f"état « {state.name} » : étape « {state.stage} » inconnue ({', '.join(STAGES)})",
                )
            )
    if states and not any(s.final for s in states.values()):
        problems.append(Problem("no_final_state", "aucun état final (final: true)"))

    seen: set[tuple[str, str]] = set()
    for t in definition.transitions:
        where = f"transition « {t.name} »"
        for source in t.from_states:
            if source not in states:
                problems.append(Problem("unknown_state", f"{where} : état de départ « {source} » non déclaré"))
            elif states[source].final:
                problems.append(Problem("final_with_exits", f"{where} : part de l'état final « {source} »"))
            if (t.name, source) in seen:
                problems.append(
                    Problem("duplicate_transition", f"{where} : déclarée plusieurs fois depuis l'état « {source} »")
                )
            seen.add((t.name, source))
        if t.to_state not in states:
            problems.append(Problem("unknown_state", f"{where} : état d'arrivée « {t.to_state} » non déclaré"))
        if not t.roles:
            problems.append(Problem("no_roles", f"{where} : aucun rôle autorisé"))
        for role in sorted(t.roles - set(ROLES)):
            problems.append(Problem("unknown_role", f"{where} : rôle « {role} » inconnu ({', '.join(ROLES)})"))
        for g in t.guards:
            spec = registry.guards.get(g.name)
            if spec is None:
                problems.append(Problem("unknown_guard", f"{where} : garde « {g.name} » inconnue"))
            else:
                problems.extend(check_params(f"{where}, garde « {g.name} »", g.params, spec.params))
        for e in t.effects:
            espec = registry.effects.get(e.name)
            if espec is None:
                problems.append(Problem("unknown_effect", f"{where} : effet « {e.name} » inconnu"))
            else:
                problems.extend(check_params(f"{where}, effet « {e.name} »", e.params, espec.params))

    problems.extend(_graph_problems(definition))
    return problems


def _graph_problems(definition: Definition) -> list[Problem]:
    states = definition.states
    edges: dict[str, set[str]] = {name: set() for name in states}
    reverse: dict[str, set[str]] = {name: set() for name in states}
    for t in definition.transitions:
        if t.to_state not in states:
            continue
        for source in t.from_states:
            if source in states:
                edges[source].add(t.to_state)
                reverse[t.to_state].add(source)

    problems: list[Problem] = []
    if definition.initial in states:
        reachable = _closure([definition.initial], edges)
        for name in states:
            if name not in reachable:
                problems.append(Problem("unreachable", f"état « {name} » inaccessible depuis « {definition.initial} »"))

    dead_ends = {n for n, s in states.items() if not s.final and not edges[n]}
    for name in sorted(dead_ends):
        problems.append(Problem("dead_end", f"état « {name} » sans issue (non final, aucune transition sortante)"))

    finals = [n for n, s in states.items() if s.final]
    if finals:
        can_finish = _closure(finals, reverse)
        for name in states:
            if name not in can_finish and name not in dead_ends:
                problems.append(Problem("trapped", f"état « {name} » : aucun état final n'est accessible"))
    return problems


def _closure(start: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
