"""Application forms declared as data on each call (issue 3).

A call's form is a definition (YAML authored, JSON stored in ``FormVersion``):
sections of typed fields, required flags, help texts, conditional display,
repeated rows, files. This package is pure Python (no Flask, no database):

* ``load_definition(data)`` checks a definition and returns a ``FormDefinition``
  (``.sections``, ``.fields``, ``.field(key)``), or raises ``DefinitionError``
  listing every problem in French;
* ``clean_answers(defn, raw, source="form"|"api")`` parses raw input into
  stored values, ``validate_answers(defn, answers, present_files=…, partial=…)``
  checks them for a draft or for submission;
* ``completeness``, ``budget_summary``, ``requested_amount``,
  ``answers_summary`` compute what the pages, the API and the receipt show.

The format is described in ``README.md`` beside this file.
"""

from app.callforms.answers import (
    FieldError,
    SectionProgress,
    answers_summary,
    budget_errors,
    budget_summary,
    clean_answers,
    completeness,
    form_keys,
    input_values,
    is_answered,
    mapped_title,
    merge_answers,
    normalise_answers,
    posted_values,
    raw_rows,
    requested_amount,
    rows_totals,
    unknown_keys,
    validate_answers,
    visible_keys,
    without_row,
)
from app.callforms.definition import (
    FIELD_TYPES,
    DefinitionError,
    Field,
    FormDefinition,
    Option,
    Section,
    ShowIf,
    builtin_definition,
    canonical_json,
    definition_hash,
    load_definition,
    parse_yaml,
    to_yaml,
)
from app.callforms.departments import DEPARTMENTS
from app.callforms.messages import set_translator
from app.callforms.values import ValueProblem, configure, display_value, format_money, input_value, parse_value

__all__ = [
    "DEPARTMENTS",
    "FIELD_TYPES",
    "DefinitionError",
    "Field",
    "FieldError",
    "FormDefinition",
    "Option",
    "Section",
    "SectionProgress",
    "ShowIf",
    "ValueProblem",
    "answers_summary",
    "budget_errors",
    "budget_summary",
    "builtin_definition",
    "canonical_json",
    "clean_answers",
    "completeness",
    "configure",
    "definition_hash",
    "display_value",
    "form_keys",
    "format_money",
    "input_value",
    "input_values",
    "is_answered",
    "load_definition",
    "mapped_title",
    "merge_answers",
    "normalise_answers",
    "parse_value",
    "parse_yaml",
    "posted_values",
    "raw_rows",
    "requested_amount",
    "rows_totals",
    "set_translator",
    "to_yaml",
    "unknown_keys",
    "validate_answers",
    "visible_keys",
    "without_row",
]
