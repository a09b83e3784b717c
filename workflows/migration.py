"""Compatibility of moving files from one definition version to another."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import Problem
from .model import Definition
from .registry import Registry
from .validation import validate


def check_migration(
    old: Definition,
    new: Definition,
    states_in_use: Iterable[str],
    registry: Registry | None = None,
) -> list[Problem]:
    """Problems preventing files in ``states_in_use`` from moving ``old`` → ``new``.

    Empty list: the files can be re-pointed to ``new`` as they are. Blocking:
    another workflow, an invalid new version, a used state removed, turned
    final, or moved to another stage.
    """
    problems: list[Problem] = []
    if old.name != new.name:
        problems.append(
            Problem("other_workflow", f"« {new.name} » n'est pas une version du workflow « {old.name} »")
        )
    for p in validate(new, registry):
        problems.append(Problem(p.code, f"nouvelle version invalide : {p}"))
    for state in sorted(set(states_in_use)):
        if state not in new.states:
            problems.append(
                Problem(
                    "state_removed",
                    f"l'état « {state} », occupé par des dossiers, n'existe plus dans la nouvelle version",
                )
            )
            continue
        target = new.states[state]
        previous = old.states.get(state)
        if previous is None:
            problems.append(
                Problem(
                    "unknown_state",
                    f"l'état « {state} » occupé par des dossiers est inconnu de l'ancienne version",
                )
            )
            continue
        if target.final and not previous.final:
            problems.append(
                Problem("became_final", f"l'état « {state} » devient final : les dossiers y seraient bloqués")
            )
        if target.stage != previous.stage:
            problems.append(
                Problem(
                    "stage_changed",
                    f"l'état « {state} » change d'étape ({previous.stage} → {target.stage})",
                )
            )
    return problems
