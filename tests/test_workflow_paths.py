"""Every path of both demo workflows, and every transition refused for every
role and state where the definition does not allow it."""

from __future__ import annotations

import pytest

import workflows
from workflows import StaticContext

ROLES = ["applicant", "instructor", "expert", "committee", "finance", "admin", "system"]
NAMES = ["pack_ia", "ami_numerique"]


def satisfying(transition) -> StaticContext:
    """A context in which every guard of ``transition`` passes."""
    ctx = StaticContext(reason="motif", amount_cents=1_000_000, call_open=True)
    for step in workflows.guard_steps(transition):
        params = dict(step.params)
        if step.name == "required_documents":
            ctx.documents |= set(params["kinds"])
        elif step.name == "eligibility_passed":
            ctx.eligibility = True
        elif step.name == "eligibility_failed":
            ctx.eligibility = False
        elif step.name == "reviews_complete":
            ctx.reviews = params["min"]
        elif step.name == "committee_approved":
            ctx.decision = "approved"
        elif step.name == "committee_rejected":
            ctx.decision = "rejected"
        elif step.name == "call_closed":
            ctx.call_open = False
        elif step.name == "agreement_signed":
            ctx.signed = True
        elif step.name == "balance_paid":
            ctx.paid = True
        elif step.name == "lapse_due":
            ctx.lapse = True
    return ctx


def all_paths(definition, limit: int = 5000) -> list[list]:
    """Every path from the initial state to a final state that visits no state twice."""
    paths, stack = [], [(definition.initial, [], {definition.initial})]
    while stack and len(paths) < limit:
        state, path, seen = stack.pop()
        if definition.is_final(state):
            paths.append(path)
            continue
        for t in definition.transitions_from(state):
            if t.to_state not in seen:
                stack.append((t.to_state, path + [(state, t)], seen | {t.to_state}))
    return paths


@pytest.mark.parametrize("name", NAMES)
def test_every_path_to_a_final_state_can_be_walked(name):
    definition = workflows.load_definition(name)
    paths = all_paths(definition)
    assert len(paths) >= 10
    finals = set()
    for path in paths:
        state = definition.initial
        for source, transition in path:
            assert state == source
            role = sorted(transition.roles)[0]
            result = workflows.fire(definition, state, transition.name, {role}, satisfying(transition))
            state = result.to_state
        assert definition.is_final(state)
        finals.add(state)
    assert finals == {s for s in definition.states if definition.is_final(s)}


@pytest.mark.parametrize("name", NAMES)
def test_every_transition_is_refused_for_every_role_and_state_it_does_not_name(name):
    definition = workflows.load_definition(name)
    checked = 0
    for transition in definition.transitions:
        ctx = satisfying(transition)
        for state in definition.states:
            for role in ROLES:
                allowed_here = any(t.allows({role}) and state in t.from_states
                                   for t in definition.transitions_named(transition.name))
                if allowed_here:
                    continue
                with pytest.raises((workflows.TransitionNotAllowed, workflows.UnknownTransition)):
                    workflows.fire(definition, state, transition.name, {role}, ctx)
                checked += 1
    assert checked > 500


def _shortest(definition, start: str, goal) -> list:
    """The shortest list of transitions from ``start`` to a state for which ``goal(state)`` holds."""
    from collections import deque

    queue, seen = deque([(start, [])]), {start}
    while queue:
        state, path = queue.popleft()
        if goal(state):
            return path
        for t in definition.transitions_from(state):
            if t.to_state not in seen:
                seen.add(t.to_state)
                queue.append((t.to_state, path + [t]))
    raise AssertionError(f"no way from {start}")


@pytest.mark.parametrize("name", NAMES)
def test_every_transition_lies_on_a_walked_path(name):
    """The paths above visit no state twice, so loops (re-submission after corrections, a
    committee's adjournment) are left out there: here each transition, from each of its source
    states, loops included, is fired on a walk from the initial state through it to a final state."""
    definition = workflows.load_definition(name)
    loops = set()
    for transition in definition.transitions:
        for source in transition.from_states:
            before = _shortest(definition, definition.initial, lambda s, source=source: s == source)
            path = before + [transition] + _shortest(definition, transition.to_state, definition.is_final)
            state, visited = definition.initial, [definition.initial]
            for step in path:
                role = sorted(step.roles)[0]
                state = workflows.fire(definition, state, step.name, {role}, satisfying(step)).to_state
                visited.append(state)
            assert definition.is_final(state), (transition.name, source, state)
            if transition.to_state in visited[:len(before) + 1]:
                loops.add(transition.name)
    assert loops, "no transition goes back to a state already passed"
    assert {"resubmit", "adjourn"} <= loops  # the corrections loop and the committee's adjournment
