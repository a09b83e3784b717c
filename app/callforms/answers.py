"""Answers to a form: cleaning raw input, conditional display, validation
(draft or submission), completeness per section, budget totals and the summary
of answers (receipts).

Pure functions over a ``FormDefinition`` and plain values; nothing here knows
about Flask or the database. File fields have no answer: their content is the
attachments, passed in as the set of field keys that have one
(``present_files``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from app.callforms.definition import Field, FormDefinition
from app.callforms.messages import _
from app.callforms.values import ValueProblem, display_value, format_money, input_value, is_empty, parse_value, percent_of

FORM_FIELDS_MARKER = "_fields"


@dataclass(frozen=True)
class FieldError:
    """A problem with one field (or one cell of repeated rows: ``row`` is the
    0-based row index, ``column`` the column key)."""

    key: str
    message: str
    row: int | None = None
    column: str | None = None

    @property
    def anchor(self) -> str:
        """The id of the input the message belongs to (see macros/callform.html)."""
        if self.row is not None and self.column is not None:
            return f"f-{self.key}-{self.row}-{self.column}"
        return f"f-{self.key}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "message": self.message}
        if self.row is not None:
            data["row"] = self.row
        if self.column is not None:
            data["column"] = self.column
        return data


@dataclass(frozen=True)
class SectionProgress:
    key: str
    title: str
    answered: int
    total: int
    missing: tuple[str, ...] = ()  # labels of the required fields still to fill

    @property
    def complete(self) -> bool:
        return self.answered >= self.total

    @property
    def percent(self) -> int:
        return 100 if not self.total else self.answered * 100 // self.total

    def to_json(self) -> dict[str, Any]:
        return {"section": self.key, "title": self.title, "answered": self.answered, "total": self.total,
                "complete": self.complete, "missing": list(self.missing)}


# --- conditional display --------------------------------------------------------------------------


def visible_keys(defn: FormDefinition, answers: Mapping[str, Any]) -> set[str]:
    """Keys of the fields shown for ``answers``: a field whose ``show_if`` does
    not match is hidden, and so is every field depending on a hidden one."""
    memo: dict[str, bool] = {}

    def shown(f: Field) -> bool:
        if f.key in memo:
            return memo[f.key]
        memo[f.key] = False  # definitions have no cycles; guard anyway
        result = True
        if f.show_if is not None:
            target = defn.field(f.show_if.field)
            result = target is not None and shown(target) and f.show_if.matches(answers.get(target.key))
        memo[f.key] = result
        return result

    return {f.key for f in defn.fields if shown(f)}


def is_visible(defn: FormDefinition, answers: Mapping[str, Any], key: str) -> bool:
    return key in visible_keys(defn, answers)


def normalise_answers(defn: FormDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """What is stored: answers of visible, known, non-file fields, empty ones
    dropped. Hidden conditional fields are neither required nor kept."""
    visible = visible_keys(defn, answers)
    result = {}
    for f in defn.fields:
        value = answers.get(f.key)
        if f.type == "file" or f.key not in visible or is_empty(value):
            continue
        result[f.key] = value
    return result


def merge_answers(defn: FormDefinition, stored: Mapping[str, Any], cleaned: Mapping[str, Any]) -> dict[str, Any]:
    """``cleaned`` (a None value clears an answer) over ``stored``, normalised."""
    merged = dict(stored)
    merged.update(cleaned)
    return normalise_answers(defn, merged)


# --- cleaning raw input ---------------------------------------------------------------------------


def _getlist(raw: Any, key: str) -> list[Any]:
    if hasattr(raw, "getlist"):
        return list(raw.getlist(key))
    value = raw.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _get(raw: Any, key: str) -> Any:
    values = _getlist(raw, key)
    return values[0] if values else None


def _row_indexes(raw: Any, key: str) -> list[int]:
    pattern = re.compile(rf"^{re.escape(key)}-(\d+)-[a-z0-9_]+$")
    return sorted({int(m.group(1)) for name in raw.keys() if (m := pattern.match(name))})


def form_keys(defn: FormDefinition, raw: Any) -> list[str]:
    """Field keys an HTML form posted: those named in its ``_fields`` markers
    (so that an unticked checkbox group still clears its answer) and those with
    a value (a row cell ``<key>-<i>-<column>`` counts for its rows field)."""
    named = set(_getlist(raw, FORM_FIELDS_MARKER))
    posted = set(raw.keys())
    keys = []
    for f in defn.fields:
        if f.type == "file":
            continue
        if f.key in named or f.key in posted or (f.type == "rows" and _row_indexes(raw, f.key)):
            keys.append(f.key)
    return keys


def raw_rows(raw: Any, field: Field) -> list[dict[str, Any]]:
    """The rows a form posted for ``field``, as typed (blank rows left out)."""
    rows = []
    for index in _row_indexes(raw, field.key):
        cells = {}
        for c in field.columns:
            name = f"{field.key}-{index}-{c.key}"
            cells[c.key] = _getlist(raw, name) if c.type == "multi_choice" else (_get(raw, name) or "")
        if any(not is_empty(v) and (not isinstance(v, str) or v.strip()) for v in cells.values()):
            rows.append(cells)
    return rows


def without_row(raw: Any, key: str, index: int) -> dict[str, list[Any]]:
    """A copy of the posted form (as lists) without the cells of row ``index`` of ``key``."""
    prefix = f"{key}-{index}-"
    return {name: _getlist(raw, name) for name in raw.keys() if not name.startswith(prefix)}


def _clean_rows(field: Field, value: Any, source: str, errors: list[FieldError]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        errors.append(FieldError(field.key, _("Une liste de lignes est attendue.")))
        return None
    rows: list[dict[str, Any]] = []
    for position, row in enumerate(value):
        if not isinstance(row, dict):
            errors.append(FieldError(field.key, _("Ligne %(n)s : un objet est attendu.", n=position + 1), row=position))
            continue
        unknown = sorted(set(row) - {c.key for c in field.columns})
        if unknown:
            errors.append(FieldError(field.key, _("Ligne %(n)s : colonnes inconnues : %(keys)s.", n=position + 1,
                                                  keys=", ".join(unknown)), row=position))
        cells: dict[str, Any] = {}
        for c in field.columns:
            try:
                cells[c.key] = parse_value(c, row.get(c.key), source=source)
            except ValueProblem as exc:
                errors.append(FieldError(field.key, exc.message, row=len(rows), column=c.key))
                cells[c.key] = None
        if all(is_empty(v) for v in cells.values()) and not unknown:
            continue
        rows.append(cells)
    if field.max_rows is not None and len(rows) > field.max_rows:
        errors.append(FieldError(field.key, _("Au plus %(n)s lignes.", n=field.max_rows)))
    return rows or None


def clean_answers(defn: FormDefinition, raw: Any, *, source: str, keys: Iterable[str] | None = None
                  ) -> tuple[dict[str, Any], list[FieldError]]:
    """Parse raw input into stored values.

    ``source="form"``: ``raw`` is the posted form (a MultiDict or a dict);
    every field of ``keys`` (default: ``form_keys(defn, raw)``) gets a value,
    None when left empty — rows come from cells named ``<key>-<i>-<column>``.
    ``source="api"``: ``raw`` is the JSON object of answers; only its keys are
    parsed, and unknown keys or file fields are errors.

    Returns the values of the fields that parsed (None clears an answer) and
    the errors; nothing about required fields (see ``validate_answers``)."""
    cleaned: dict[str, Any] = {}
    errors: list[FieldError] = []
    if source == "form":
        for key in (keys if keys is not None else form_keys(defn, raw)):
            f = defn.field(key)
            if f is None or f.type == "file":
                continue
            if f.type == "rows":
                field_errors: list[FieldError] = []
                rows = _clean_rows(f, raw_rows(raw, f), "form", field_errors)
                if field_errors:
                    errors.extend(field_errors)
                else:
                    cleaned[key] = rows
                continue
            value = _getlist(raw, key) if f.type == "multi_choice" else _get(raw, key)
            try:
                cleaned[key] = parse_value(f, value, source="form")
            except ValueProblem as exc:
                errors.append(FieldError(key, exc.message))
        return cleaned, errors
    if source not in ("api", "stored"):
        raise ValueError(f"unknown source {source!r}")
    if not isinstance(raw, Mapping):
        return {}, [FieldError("answers", _("Les réponses doivent être un objet JSON {clé: valeur}."))]
    for key, value in raw.items():
        f = defn.field(key)
        if f is None:
            errors.append(FieldError(key, _("Ce champ n'existe pas dans le formulaire.")))
            continue
        if f.type == "rows":
            field_errors = []
            rows = _clean_rows(f, value, source, field_errors)
            if field_errors:
                errors.extend(field_errors)
            else:
                cleaned[key] = rows
            continue
        try:
            cleaned[key] = parse_value(f, value, source=source)
        except ValueProblem as exc:
            errors.append(FieldError(key, exc.message))
    return cleaned, errors


def unknown_keys(defn: FormDefinition, raw: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in raw if defn.field(k) is None)


# --- validation -----------------------------------------------------------------------------------


def _required_message(f: Field) -> str:
    if f.type == "file":
        return _("Joignez ce document.")
    if f.type == "rows":
        return _("Ajoutez au moins une ligne.")
    if f.type == "yes_no":
        return _("Répondez par oui ou par non.")
    if f.type in ("choice", "department"):
        return _("Choisissez une option.")
    if f.type == "multi_choice":
        return _("Cochez au moins une option.")
    return _("Ce champ est obligatoire.")


def _rows_answered(f: Field, value: Any) -> bool:
    return isinstance(value, list) and len(value) >= max(f.min_rows or 0, 1)


def is_answered(f: Field, value: Any, present_files: set[str] | frozenset[str] = frozenset()) -> bool:
    if f.type == "file":
        return f.key in present_files
    if f.type == "rows":
        return _rows_answered(f, value)
    return not is_empty(value)


def validate_answers(defn: FormDefinition, answers: Mapping[str, Any], *, present_files: Iterable[str] = (),
                     partial: bool, max_aid_cents: int | None = None) -> list[FieldError]:
    """Problems with stored ``answers``.

    ``partial=True`` (drafts): format errors only (values re-checked, row
    limits, the requested aid above the call's ``max_aid_cents``).
    ``partial=False`` (submission): also required visible fields (files: a key
    in ``present_files``), required cells of rows, ``min_rows``, and the budget
    rules: the aid requested not above the call's ceiling, nor the total of the
    expenses, nor — with the co-financing — above that total."""
    present = set(present_files)
    visible = visible_keys(defn, answers)
    errors: list[FieldError] = []
    for f in defn.fields:
        if f.key not in visible:
            continue
        value = answers.get(f.key)
        if f.type == "file":
            if not partial and f.required and f.key not in present:
                errors.append(FieldError(f.key, _required_message(f)))
            continue
        if is_empty(value):
            if not partial and f.required:
                errors.append(FieldError(f.key, _required_message(f)))
            continue
        if f.type == "rows":
            errors.extend(_validate_rows(f, value, partial))
            continue
        try:
            parse_value(f, value, source="stored")
        except ValueProblem as exc:
            errors.append(FieldError(f.key, exc.message))
    errors.extend(budget_errors(defn, answers, partial=partial, max_aid_cents=max_aid_cents))
    return errors


def _validate_rows(f: Field, value: Any, partial: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    rows = _clean_rows(f, value, "stored", errors)
    if errors:
        return errors
    rows = rows or []
    if not partial:
        for i, row in enumerate(rows):
            for c in f.columns:
                if c.required and is_empty(row.get(c.key)):
                    errors.append(FieldError(f.key, _required_message(c), row=i, column=c.key))
        if f.min_rows and len(rows) < f.min_rows:
            errors.append(FieldError(f.key, _("Ajoutez au moins %(n)s lignes.", n=f.min_rows)))
    return errors


def budget_errors(defn: FormDefinition, answers: Mapping[str, Any], *, partial: bool,
                  max_aid_cents: int | None = None) -> list[FieldError]:
    aid_field = defn.requested_field
    if aid_field is None:
        return []
    aid = answers.get(aid_field.key)
    if not isinstance(aid, int) or isinstance(aid, bool) or aid_field.key not in visible_keys(defn, answers):
        return []
    errors = []
    if max_aid_cents is not None and aid > max_aid_cents:
        errors.append(FieldError(aid_field.key, _("L'aide demandée (%(aid)s) dépasse le plafond de l'appel (%(max)s).",
                                                  aid=format_money(aid), max=format_money(max_aid_cents))))
    if partial:
        return errors
    summary = budget_summary(defn, answers)
    expenses = summary["expenses_cents"]
    if expenses is not None:
        if aid > expenses:
            errors.append(FieldError(aid_field.key, _("L'aide demandée (%(aid)s) ne peut pas dépasser le total des dépenses (%(total)s).",
                                                      aid=format_money(aid), total=format_money(expenses))))
        elif summary["cofinancing_cents"] is not None and aid + summary["cofinancing_cents"] > expenses:
            errors.append(FieldError(aid_field.key, _(
                "L'aide demandée et les cofinancements (%(sum)s) dépassent le total des dépenses (%(total)s).",
                sum=format_money(aid + summary["cofinancing_cents"]), total=format_money(expenses))))
    return errors


# --- completeness, budget, summary ----------------------------------------------------------------


def completeness(defn: FormDefinition, answers: Mapping[str, Any], present_files: Iterable[str] = ()) -> list[SectionProgress]:
    """Per section: required visible fields answered / total (a file field is
    answered when an attachment exists for its key)."""
    present = set(present_files)
    visible = visible_keys(defn, answers)
    result = []
    for s in defn.sections:
        required = [f for f in s.fields if f.required and f.key in visible]
        missing = tuple(f.label for f in required if not is_answered(f, answers.get(f.key), present))
        result.append(SectionProgress(key=s.key, title=s.title, answered=len(required) - len(missing),
                                      total=len(required), missing=missing))
    return result


def _sum_column(rows: Any, column: str) -> int:
    total = 0
    for row in rows if isinstance(rows, list) else []:
        value = row.get(column) if isinstance(row, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            total += value
    return total


def rows_totals(defn: FormDefinition, answers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """For each rows field with a money column: the sum of each money column
    (``columns``), ``total_cents`` (the first money column), and per choice
    column the sums by option (``groups``)."""
    visible = visible_keys(defn, answers)
    result: dict[str, dict[str, Any]] = {}
    for f in defn.fields:
        if f.type != "rows" or not f.money_columns:
            continue
        rows = answers.get(f.key) if f.key in visible else None
        columns = {c.key: _sum_column(rows, c.key) for c in f.money_columns}
        first = f.money_columns[0].key
        groups: dict[str, list[dict[str, Any]]] = {}
        for choice in f.choice_columns:
            by_option = []
            for option in choice.options:
                matching = [r for r in rows or [] if isinstance(r, dict) and r.get(choice.key) == option.value]
                if matching:
                    by_option.append({"value": option.value, "label": option.label,
                                      "total_cents": _sum_column(matching, first)})
            groups[choice.key] = by_option
        result[f.key] = {"label": f.label, "total_cents": columns[first], "columns": columns, "groups": groups,
                         "rows": len(rows) if isinstance(rows, list) else 0}
    return result


def requested_amount(defn: FormDefinition, answers: Mapping[str, Any]) -> int | None:
    """The aid requested (``maps_to: requested_amount_cents``), None when the
    form has no such field or it is not answered."""
    f = defn.requested_field
    if f is None or f.key not in visible_keys(defn, answers):
        return None
    value = answers.get(f.key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def mapped_title(defn: FormDefinition, answers: Mapping[str, Any]) -> str | None:
    f = defn.mapped("title")
    value = answers.get(f.key) if f is not None else None
    return value if isinstance(value, str) and value.strip() else None


def budget_summary(defn: FormDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Totals computed server-side, in cents: ``rows`` (per rows field, see
    ``rows_totals``), ``expenses_cents`` (the rows field with ``budget_role:
    expenses``), ``cofinancing_cents`` (``budget_role: cofinancing``),
    ``requested_cents``, ``own_funds_cents`` (expenses − aid − co-financing)
    and ``aid_share_percent`` (aid / expenses, a Decimal with two decimals).
    A value is None when the form lacks what it needs."""
    totals = rows_totals(defn, answers)
    expenses_field = defn.budget_field("expenses")
    cofinancing_field = defn.budget_field("cofinancing")
    expenses = totals[expenses_field.key]["total_cents"] if expenses_field is not None else None
    cofinancing = totals[cofinancing_field.key]["total_cents"] if cofinancing_field is not None else None
    aid = requested_amount(defn, answers)
    own = None
    if expenses is not None:
        own = expenses - (aid or 0) - (cofinancing or 0)
    return {
        "rows": totals,
        "expenses_cents": expenses,
        "cofinancing_cents": cofinancing,
        "requested_cents": aid,
        "own_funds_cents": own,
        "aid_share_percent": percent_of(aid, expenses) if aid is not None and expenses else None,
    }


def rows_display(f: Field, rows: Any, locale: str = "fr") -> str:
    lines = []
    for i, row in enumerate(rows if isinstance(rows, list) else [], start=1):
        cells = [f"{c.label} : {display_value(c, row.get(c.key), locale)}" for c in f.columns if not is_empty(row.get(c.key))]
        lines.append(_("Ligne %(n)s", n=i) + " — " + " ; ".join(cells))
    if f.money_columns and lines:
        lines.append(_("Total : %(total)s", total=format_money(_sum_column(rows, f.money_columns[0].key), locale)))
    return "\n".join(lines) if lines else _("Non renseigné")


def answers_summary(defn: FormDefinition, answers: Mapping[str, Any], *, files: Mapping[str, list[str]] | None = None,
                    locale: str = "fr") -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(section title, [(label, value as displayed)])]`` for the visible
    fields; file fields only when ``files`` (key → file names) is given; rows
    as one line per row and a total."""
    visible = visible_keys(defn, answers)
    result = []
    for s in defn.sections:
        items = []
        for f in s.fields:
            if f.key not in visible:
                continue
            if f.type == "file":
                if files is not None:
                    names = files.get(f.key) or []
                    items.append((f.label, ", ".join(names) if names else _("Aucun fichier")))
                continue
            value = answers.get(f.key)
            items.append((f.label, rows_display(f, value, locale) if f.type == "rows" else display_value(f, value, locale)))
        result.append((s.title, items))
    return result


def input_values(defn: FormDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Stored answers as the HTML inputs show them; rows as lists of dicts of strings."""
    values: dict[str, Any] = {}
    for f in defn.fields:
        value = answers.get(f.key)
        if f.type == "rows":
            values[f.key] = [{c.key: input_value(c, row.get(c.key)) for c in f.columns}
                             for row in (value if isinstance(value, list) else []) if isinstance(row, dict)]
        elif f.type != "file":
            values[f.key] = input_value(f, value)
    return values


def posted_values(defn: FormDefinition, raw: Any, keys: Iterable[str]) -> dict[str, Any]:
    """What the user typed, to show it again next to the errors."""
    values: dict[str, Any] = {}
    for key in keys:
        f = defn.field(key)
        if f is None or f.type == "file":
            continue
        if f.type == "rows":
            values[key] = raw_rows(raw, f)
        elif f.type == "multi_choice":
            values[key] = _getlist(raw, key)
        else:
            values[key] = _get(raw, key) or ""
    return values
