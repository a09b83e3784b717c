"""Property-based fuzzing (hypothesis) of the call-form validators
(app/callforms/values.py, answers.py): whatever a person types or a client
sends, a field's parser returns a value or refuses it with a French message
(``ValueProblem``) — never another exception (a 500); a value it accepts is
shown back in the form in a way it accepts again, unchanged; whole answer
sets are cleaned into values and field errors, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.callforms import answers as answers_mod
from app.callforms import values
from tests.journey import AMI, PACK, answers_for, definition

FIELDS = {(call, f.key): f for call in (PACK, AMI) for f in definition(call).fields if f.type not in ("file", "rows")}
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What people type: digits, separators, French words, spaces of every kind, letters, symbols.
typed = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789 ,.-/+€%\u00a0\u202feEFRoui", max_size=30),
    st.sampled_from(["oui", "non", "", " ", "1e309", "NaN", "-0", "31/02/2025", "00/00/0000", "9999-99-99",
                     "1 000 000 000 000 000 000", "0,001", "FR76", "+33 6 12 34 56 78", "a@b", "\x00", "٣"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


@settings(SETTINGS, max_examples=400)
@given(key=st.sampled_from(sorted(FIELDS)), text=typed)
def test_typed_input_is_parsed_or_refused_in_french_and_accepted_values_survive_a_round_trip(ctx, key, text):
    field = FIELDS[key]
    try:
        parsed = values.parse_value(field, text, source="form")
    except values.ValueProblem as problem:
        assert problem.message.strip()
        return
    if parsed is None:
        return
    shown = values.input_value(field, parsed)
    assert values.parse_value(field, shown, source="form") == parsed, (text, shown)
    assert values.display_value(field, parsed)
    assert values.parse_value(field, parsed, source="stored") == parsed


@settings(SETTINGS, max_examples=300)
@given(key=st.sampled_from(sorted(FIELDS)), value=json_values)
def test_any_json_value_is_parsed_or_refused_in_french(ctx, key, value):
    field = FIELDS[key]
    try:
        values.parse_value(field, value, source="api")
    except values.ValueProblem as problem:
        assert problem.message.strip()


@pytest.mark.parametrize("call", [PACK, AMI])
@SETTINGS
@given(data=st.data())
def test_whole_answer_sets_are_cleaned_into_values_and_field_errors(ctx, call, data):
    """The valid answers with some of them replaced by anything (JSON, as the
    API receives them): cleaned values and field errors, never an exception."""
    defn = definition(call)
    raw = dict(answers_for(call, {"siret": "38914502000175", "department": "68"}))
    for key in data.draw(st.lists(st.sampled_from(sorted(raw)), max_size=5, unique=True)):
        raw[key] = data.draw(json_values)
    cleaned, errors = answers_mod.clean_answers(defn, raw, source="api")
    assert all(e.message for e in errors)
    assert set(cleaned) <= set(raw)
    merged = answers_mod.merge_answers(defn, {}, cleaned)
    answers_mod.validate_answers(defn, merged, partial=False)


@pytest.mark.parametrize("call", [PACK, AMI])
@SETTINGS
@given(cells=st.dictionaries(st.from_regex(r"[a-z_]{3,20}-[0-9]{1,2}-[a-z_]{3,14}", fullmatch=True), typed, max_size=8))
def test_posted_form_rows_are_cleaned_never_raise(ctx, call, cells):
    """Row cells as a form posts them (``<key>-<i>-<column>``), any names and texts."""
    defn = definition(call)
    rows = [f for f in defn.fields if f.type == "rows"]
    posted = {}
    for name, text in cells.items():
        field = rows[hash(name) % len(rows)]
        posted[f"{field.key}-{name.split('-', 1)[1]}"] = text
    posted["_fields"] = [f.key for f in rows]
    cleaned, errors = answers_mod.clean_answers(defn, posted, source="form")
    assert all(e.message for e in errors)
