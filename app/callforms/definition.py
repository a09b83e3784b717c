"""Form definitions: loading, validating the definition itself, and the
read-only objects the rest of the package works on.

A definition is plain data (a dict from YAML or JSON, see /tmp/form_contract.md
and ``app/callforms/README.md``). ``load_definition`` checks every rule at
once and raises ``DefinitionError`` listing every problem, in French.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field as dc_field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

from app.callforms.messages import _

FIELD_TYPES = (
    "text", "long_text", "number", "money", "percentage", "date", "yes_no", "choice", "multi_choice",
    "department", "siret", "email", "phone", "iban", "file", "rows",
)
# Types a show_if may test, and types allowed as columns of repeated rows.
CONDITION_TYPES = ("yes_no", "choice", "multi_choice", "department", "text", "number", "money")
COLUMN_TYPES = tuple(t for t in FIELD_TYPES if t not in ("file", "rows"))
KEY_RE = re.compile(r"^[a-z0-9_]{1,60}$")
MIME_RE = re.compile(r"^[a-z]+/([a-z0-9][a-z0-9.+-]*|\*)$")
# maps_to targets: the application's column → field types that may feed it.
MAPS_TO = {"requested_amount_cents": ("money",), "title": ("text",)}
BUDGET_ROLES = ("expenses", "cofinancing")
DEFAULT_MAX_LENGTH = {"text": 300, "long_text": 10_000}
MAX_MONEY_CENTS = 10**15

COMMON_KEYS = {"key", "type", "label", "required", "help", "show_if", "maps_to", "share_with_experts"}
TYPE_KEYS: dict[str, set[str]] = {
    "text": {"max_length"},
    "long_text": {"max_length"},
    "number": {"min", "max", "decimals"},
    "money": {"min", "max"},
    "percentage": {"min", "max"},
    "date": {"min", "max"},
    "choice": {"options"},
    "multi_choice": {"options"},
    "file": {"accept", "max_bytes"},
    "rows": {"columns", "min_rows", "max_rows", "budget_role"},
}
BUILTIN_DIR = Path(__file__).resolve().parent / "definitions"


class DefinitionError(ValueError):
    """The definition breaks one or more rules; ``problems`` lists each, in French."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class ShowIf:
    """Show the field only when ``field`` has one of ``values``
    (for a multiple choice: when one of ``values`` is ticked)."""

    field: str
    values: tuple[Any, ...]

    def matches(self, answer: Any) -> bool:
        if answer is None:
            return False
        if isinstance(answer, list):
            return any(_same(a, v) for a in answer for v in self.values)
        return any(_same(answer, v) for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "in": list(self.values)}

    @property
    def input_values(self) -> list[str]:
        """The values as the HTML inputs post them (yes/no radios post oui/non)."""
        return ["oui" if v is True else "non" if v is False else str(v) for v in self.values]


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python: a yes/no answer must not match a number.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label: str
    required: bool = False
    help: str | None = None
    section: str | None = None
    row_of: str | None = None  # the rows field's key, for a column
    max_length: int | None = None
    min: Any = None
    max: Any = None
    decimals: int = 0
    options: tuple[Option, ...] = ()
    accept: tuple[str, ...] = ()
    max_bytes: int | None = None
    columns: tuple["Field", ...] = ()
    min_rows: int | None = None
    max_rows: int | None = None
    budget_role: str | None = None
    show_if: ShowIf | None = None
    maps_to: str | None = None
    # Shown to the experts invited on a file (app/operations/experts.py); the rest stays with staff.
    share_with_experts: bool = False

    # Read like the definition's dict too (templates and helpers written for dicts).
    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    def option_label(self, value: Any) -> str:
        for option in self.options:
            if option.value == value:
                return option.label
        return str(value)

    def column(self, key: str) -> "Field | None":
        return next((c for c in self.columns if c.key == key), None)

    @property
    def money_columns(self) -> tuple["Field", ...]:
        return tuple(c for c in self.columns if c.type == "money")

    @property
    def choice_columns(self) -> tuple["Field", ...]:
        return tuple(c for c in self.columns if c.type == "choice")

    def to_api(self) -> dict[str, Any]:
        """The field as ``GET /api/v1/calls/<ref>/form`` describes it."""
        data: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "options": [{"value": o.value, "label": o.label} for o in self.options] if self.options else None,
            "accept": list(self.accept) if self.type == "file" else None,
            "max_bytes": self.max_bytes if self.type == "file" else None,
            "columns": [c.to_api() for c in self.columns] if self.type == "rows" else None,
            "help": self.help,
        }
        if self.section is not None:
            data["section"] = self.section
        if self.max_length is not None:
            data["max_length"] = self.max_length
        if self.type in ("number", "money", "percentage", "date"):
            data["min"], data["max"] = self.min, self.max
        if self.type == "number":
            data["decimals"] = self.decimals
        if self.type == "rows":
            data["min_rows"], data["max_rows"] = self.min_rows, self.max_rows
            if self.budget_role:
                data["budget_role"] = self.budget_role
        if self.show_if is not None:
            data["show_if"] = self.show_if.to_dict()
        if self.maps_to is not None:
            data["maps_to"] = self.maps_to
        return data


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    fields: tuple[Field, ...]
    help: str | None = None


@dataclass(frozen=True)
class FormDefinition:
    title: str
    sections: tuple[Section, ...]
    hash: str
    data: dict[str, Any] = dc_field(compare=False, repr=False)
    _by_key: dict[str, Field] = dc_field(compare=False, repr=False, default_factory=dict)

    @property
    def fields(self) -> tuple[Field, ...]:
        """Every field of the form (not the columns of repeated rows), in order."""
        return tuple(f for s in self.sections for f in s.fields)

    def field(self, key: str) -> Field | None:
        return self._by_key.get(key)

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def section_of(self, key: str) -> Section | None:
        f = self.field(key)
        return self.section(f.section) if f is not None and f.section else None

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def mapped(self, target: str) -> Field | None:
        return next((f for f in self.fields if f.maps_to == target), None)

    @property
    def requested_field(self) -> Field | None:
        return self.mapped("requested_amount_cents")

    def budget_field(self, role: str) -> Field | None:
        return next((f for f in self.fields if f.budget_role == role), None)

    @property
    def file_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type == "file")

    @property
    def has_budget(self) -> bool:
        return any(f.type == "rows" and f.money_columns for f in self.fields) or self.requested_field is not None


# --- canonical form, YAML, built-in definitions ---------------------------------------------------


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def definition_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def _jsonable(value: Any, where: str, problems: list[str]) -> Any:
    """YAML gives dates for unquoted ISO dates: keep them as ISO strings; refuse
    what JSON cannot hold."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(_("%(where)s : la clé %(key)s doit être un texte (mettez-la entre guillemets).",
                                  where=where, key=repr(k)))
                continue
            out[k] = _jsonable(v, where, problems)
        return out
    if isinstance(value, list):
        return [_jsonable(v, where, problems) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    problems.append(_("%(where)s : valeur non prise en charge (%(value)s).", where=where, value=repr(value)[:40]))
    return None


def parse_yaml(text: str) -> dict[str, Any]:
    """The YAML an administrator pasted → a JSON-compatible dict (``safe_load`` only)."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else "?"
        raise DefinitionError([_("YAML illisible à la ligne %(line)s : %(problem)s.", line=line,
                                 problem=exc.problem or str(exc))]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([_("YAML illisible : %(problem)s.", problem=str(exc))]) from None
    if not isinstance(data, dict):
        raise DefinitionError([_("La définition doit être un objet avec les clés « title » et « sections ».")])
    problems: list[str] = []
    data = _jsonable(data, _("Définition"), problems)
    if problems:
        raise DefinitionError(problems)
    return data


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)


def builtin_definition(name: str) -> dict[str, Any]:
    """A definition shipped in ``app/callforms/definitions/<name>.yaml``."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"bad definition name {name!r}")
    return parse_yaml((BUILTIN_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


# --- validation -----------------------------------------------------------------------------------


def load_definition(data: dict[str, Any]) -> FormDefinition:
    """Check ``data`` and build the form; raises ``DefinitionError`` listing every problem."""
    if not isinstance(data, dict):
        raise DefinitionError([_("La définition doit être un objet avec les clés « title » et « sections ».")])
    try:
        text = canonical_json(data)
    except (TypeError, ValueError):
        raise DefinitionError([_("La définition contient des valeurs qui ne sont pas du JSON.")]) from None
    return _load_canonical(text)


@lru_cache(maxsize=128)
def _load_canonical(text: str) -> FormDefinition:
    data = json.loads(text)
    problems: list[str] = []
    definition = _Builder(problems).build(data)
    if problems or definition is None:
        raise DefinitionError(problems)
    return definition


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Builder:
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where} : {message}")

    def build(self, data: dict[str, Any]) -> FormDefinition | None:
        where = _("Définition")
        for key in sorted(set(data) - {"title", "sections", "description"}):
            self.problem(where, _("clé inconnue « %(key)s ».", key=key))
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            self.problem(where, _("le titre (« title ») est obligatoire."))
            title = ""
        if "description" in data and not isinstance(data["description"], str):
            self.problem(where, _("« description » doit être un texte."))
        raw_sections = data.get("sections")
        if not isinstance(raw_sections, list) or not raw_sections:
            self.problem(where, _("il faut au moins une section (« sections » : une liste)."))
            return None
        sections: list[Section] = []
        section_keys: set[str] = set()
        by_key: dict[str, Field] = {}
        for i, raw in enumerate(raw_sections, start=1):
            section = self.section(raw, i, section_keys, by_key)
            if section is not None:
                sections.append(section)
        self.check_links(by_key)
        if self.problems:
            return None
        return FormDefinition(title=title.strip(), sections=tuple(sections), hash=definition_hash(data), data=data,
                              _by_key=by_key)

    def section(self, raw: Any, index: int, seen: set[str], by_key: dict[str, Field]) -> Section | None:
        where = _("Section n° %(n)s", n=index)
        if not isinstance(raw, dict):
            self.problem(where, _("une section doit être un objet (key, title, fields)."))
            return None
        key = raw.get("key")
        if isinstance(key, str) and KEY_RE.match(key):
            where = _("Section « %(key)s »", key=key)
            if key in seen:
                self.problem(where, _("clé de section en double."))
            seen.add(key)
        else:
            self.problem(where, _("« key » est obligatoire : lettres minuscules, chiffres et « _ » (60 au plus)."))
            key = f"section_{index}"
        for extra in sorted(set(raw) - {"key", "title", "help", "fields"}):
            self.problem(where, _("clé inconnue « %(key)s ».", key=extra))
        title = raw.get("title")
        if not isinstance(title, str) or not title.strip():
            self.problem(where, _("le titre (« title ») est obligatoire."))
            title = ""
        help_ = raw.get("help")
        if help_ is not None and not isinstance(help_, str):
            self.problem(where, _("« help » doit être un texte."))
            help_ = None
        raw_fields = raw.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            self.problem(where, _("il faut au moins un champ (« fields » : une liste)."))
            raw_fields = []
        fields = []
        for j, raw_field in enumerate(raw_fields, start=1):
            f = self.field(raw_field, _("%(where)s, champ n° %(n)s", where=where, n=j), section=key)
            if f is None:
                continue
            if f.key in by_key:
                self.problem(_("Champ « %(key)s »", key=f.key), _("clé de champ en double (les clés sont uniques dans tout le formulaire)."))
                continue
            by_key[f.key] = f
            fields.append(f)
        return Section(key=key, title=(title or "").strip(), fields=tuple(fields), help=help_)

    def field(self, raw: Any, where: str, *, section: str | None = None, row_of: str | None = None) -> Field | None:
        if not isinstance(raw, dict):
            self.problem(where, _("un champ doit être un objet (key, type, label…)."))
            return None
        key = raw.get("key")
        if isinstance(key, str) and KEY_RE.match(key):
            where = _("Colonne « %(key)s » de « %(rows)s »", key=key, rows=row_of) if row_of else _("Champ « %(key)s »", key=key)
        else:
            self.problem(where, _("« key » est obligatoire : lettres minuscules, chiffres et « _ » (60 au plus)."))
            key = None
        type_ = raw.get("type")
        known_type = type_ in FIELD_TYPES
        if not known_type:
            self.problem(where, _("type inconnu « %(type)s » (types possibles : %(types)s).", type=type_,
                                  types=", ".join(FIELD_TYPES)))
        elif row_of and type_ not in COLUMN_TYPES:
            self.problem(where, _("une colonne ne peut pas être de type « %(type)s ».", type=type_))
            known_type = False
        allowed = COMMON_KEYS | (TYPE_KEYS.get(type_, set()) if known_type else set().union(*TYPE_KEYS.values()))
        for extra in sorted(set(raw) - allowed):
            self.problem(where, _("clé « %(key)s » inconnue ou sans objet pour ce type.", key=extra))
        if row_of:
            for forbidden in ("show_if", "maps_to"):
                if forbidden in raw:
                    self.problem(where, _("« %(key)s » n'est pas permis dans une colonne.", key=forbidden))
        label = raw.get("label")
        if not isinstance(label, str) or not label.strip():
            self.problem(where, _("le libellé (« label ») est obligatoire."))
            label = ""
        required = raw.get("required", False)
        if not isinstance(required, bool):
            self.problem(where, _("« required » vaut true ou false."))
            required = False
        help_ = raw.get("help")
        if help_ is not None and not isinstance(help_, str):
            self.problem(where, _("« help » doit être un texte."))
            help_ = None
        shared = raw.get("share_with_experts", False)
        if not isinstance(shared, bool):
            self.problem(where, _("« share_with_experts » vaut true ou false."))
            shared = False
        if row_of and "share_with_experts" in raw:
            self.problem(where, _("« %(key)s » n'est pas permis dans une colonne.", key="share_with_experts"))
        if key is None or not known_type:
            return None
        attrs: dict[str, Any] = {}
        getattr(self, f"_type_{type_}", self._type_plain)(raw, where, attrs, key)
        show_if = None
        if "show_if" in raw and not row_of:
            show_if = self.show_if(raw["show_if"], where)
        maps_to = raw.get("maps_to")
        if maps_to is not None and not row_of:
            if maps_to not in MAPS_TO:
                self.problem(where, _("« maps_to » inconnu « %(value)s » (possibles : %(targets)s).", value=maps_to,
                                      targets=", ".join(MAPS_TO)))
                maps_to = None
            elif type_ not in MAPS_TO[maps_to]:
                self.problem(where, _("« maps_to: %(value)s » demande un champ de type %(types)s.", value=maps_to,
                                      types=", ".join(MAPS_TO[maps_to])))
                maps_to = None
        return Field(key=key, type=type_, label=label.strip(), required=required, help=help_, section=section,
                     row_of=row_of, show_if=show_if, maps_to=maps_to if not row_of else None,
                     share_with_experts=shared and not row_of, **attrs)

    # -- per type ------------------------------------------------------------

    def _type_plain(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        pass

    def _max_length(self, raw: dict, where: str, attrs: dict, type_: str) -> None:
        value = raw.get("max_length", DEFAULT_MAX_LENGTH[type_])
        if not _is_int(value) or not 1 <= value <= 100_000:
            self.problem(where, _("« max_length » doit être un nombre entier entre 1 et 100 000."))
            value = DEFAULT_MAX_LENGTH[type_]
        attrs["max_length"] = value

    def _type_text(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        self._max_length(raw, where, attrs, "text")

    def _type_long_text(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        self._max_length(raw, where, attrs, "long_text")

    def _bounds(self, raw: dict, where: str, attrs: dict, check, message: str, default=(None, None)) -> None:
        low, high = raw.get("min", default[0]), raw.get("max", default[1])
        for name, value in (("min", low), ("max", high)):
            if value is not None and not check(value):
                self.problem(where, _("« %(name)s » : %(message)s", name=name, message=message))
                value = None
            attrs[name] = value
        if attrs["min"] is not None and attrs["max"] is not None and attrs["min"] > attrs["max"]:
            self.problem(where, _("« min » est plus grand que « max »."))

    def _type_number(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        decimals = raw.get("decimals", 0)
        if not _is_int(decimals) or not 0 <= decimals <= 6:
            self.problem(where, _("« decimals » doit être un nombre entier entre 0 et 6."))
            decimals = 0
        attrs["decimals"] = decimals
        self._bounds(raw, where, attrs, _is_number, _("un nombre est attendu."))

    def _type_money(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        self._bounds(raw, where, attrs, lambda v: _is_int(v) and 0 <= v <= MAX_MONEY_CENTS,
                     _("un montant positif en centimes (nombre entier) est attendu."), default=(0, None))

    def _type_percentage(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        self._bounds(raw, where, attrs, lambda v: _is_number(v) and 0 <= v <= 100,
                     _("un nombre entre 0 et 100 est attendu."), default=(0, 100))

    def _type_date(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        def is_iso(value: Any) -> bool:
            if not isinstance(value, str):
                return False
            try:
                date.fromisoformat(value)
            except ValueError:
                return False
            return len(value) == 10

        self._bounds(raw, where, attrs, is_iso, _("une date AAAA-MM-JJ est attendue."))

    def _options(self, raw: dict, where: str, attrs: dict) -> None:
        options = raw.get("options")
        if not isinstance(options, list) or not options:
            self.problem(where, _("« options » est obligatoire : une liste de {value, label}."))
            attrs["options"] = ()
            return
        seen: set[str] = set()
        result = []
        for i, option in enumerate(options, start=1):
            if not isinstance(option, dict):
                self.problem(where, _("l'option n° %(n)s doit être un objet {value, label}.", n=i))
                continue
            for extra in sorted(set(option) - {"value", "label"}):
                self.problem(where, _("option n° %(n)s : clé inconnue « %(key)s ».", n=i, key=extra))
            value, label = option.get("value"), option.get("label")
            if not isinstance(value, str) or not value or len(value) > 80:
                self.problem(where, _("option n° %(n)s : « value » doit être un texte non vide (mettez oui/non/true entre guillemets).", n=i))
                continue
            if value in seen:
                self.problem(where, _("option « %(value)s » en double.", value=value))
                continue
            if not isinstance(label, str) or not label.strip():
                self.problem(where, _("option « %(value)s » : « label » est obligatoire.", value=value))
                continue
            seen.add(value)
            result.append(Option(value=value, label=label.strip()))
        attrs["options"] = tuple(result)

    def _type_choice(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        self._options(raw, where, attrs)

    def _type_multi_choice(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        self._options(raw, where, attrs)

    def _type_file(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        accept = raw.get("accept")
        if not isinstance(accept, list) or not accept or not all(isinstance(a, str) and MIME_RE.match(a) for a in accept):
            self.problem(where, _("« accept » est obligatoire : une liste de types MIME (par exemple application/pdf)."))
            accept = []
        attrs["accept"] = tuple(dict.fromkeys(accept))
        max_bytes = raw.get("max_bytes")
        if not _is_int(max_bytes) or max_bytes <= 0:
            self.problem(where, _("« max_bytes » est obligatoire : la taille maximale en octets (nombre entier positif)."))
            max_bytes = None
        attrs["max_bytes"] = max_bytes

    def _type_rows(self, raw: dict, where: str, attrs: dict, key: str) -> None:
        columns = raw.get("columns")
        result: list[Field] = []
        if not isinstance(columns, list) or not columns:
            self.problem(where, _("« columns » est obligatoire : la liste des colonnes (des champs)."))
            columns = []
        seen: set[str] = set()
        for i, column in enumerate(columns, start=1):
            f = self.field(column, _("%(where)s, colonne n° %(n)s", where=where, n=i), row_of=key)
            if f is None:
                continue
            if f.key in seen:
                self.problem(where, _("colonne « %(key)s » en double.", key=f.key))
                continue
            seen.add(f.key)
            result.append(f)
        attrs["columns"] = tuple(result)
        for name in ("min_rows", "max_rows"):
            value = raw.get(name)
            if value is not None and (not _is_int(value) or not 0 <= value <= 500):
                self.problem(where, _("« %(name)s » doit être un nombre entier entre 0 et 500.", name=name))
                value = None
            attrs[name] = value
        if attrs["min_rows"] is not None and attrs["max_rows"] is not None and attrs["min_rows"] > attrs["max_rows"]:
            self.problem(where, _("« min_rows » est plus grand que « max_rows »."))
        if attrs["max_rows"] is None:
            attrs["max_rows"] = 100
        role = raw.get("budget_role")
        if role is not None:
            if role not in BUDGET_ROLES:
                self.problem(where, _("« budget_role » vaut %(roles)s.", roles=" ou ".join(BUDGET_ROLES)))
                role = None
            elif not any(c.type == "money" for c in result):
                self.problem(where, _("« budget_role » demande une colonne de type money."))
                role = None
        attrs["budget_role"] = role

    def show_if(self, raw: Any, where: str) -> ShowIf | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("field"), str):
            self.problem(where, _("« show_if » doit être un objet {field, equals} ou {field, in}."))
            return None
        for extra in sorted(set(raw) - {"field", "equals", "in"}):
            self.problem(where, _("« show_if » : clé inconnue « %(key)s ».", key=extra))
        if ("equals" in raw) == ("in" in raw):
            self.problem(where, _("« show_if » demande soit « equals », soit « in »."))
            return None
        if "in" in raw:
            values = raw["in"]
            if not isinstance(values, list) or not values:
                self.problem(where, _("« show_if.in » doit être une liste non vide."))
                return None
        else:
            values = [raw["equals"]]
        return ShowIf(field=raw["field"], values=tuple(values))

    def check_links(self, by_key: dict[str, Field]) -> None:
        for f in by_key.values():
            if f.show_if is None:
                continue
            where = _("Champ « %(key)s »", key=f.key)
            target = by_key.get(f.show_if.field)
            if target is None:
                self.problem(where, _("« show_if » renvoie au champ inconnu « %(field)s ».", field=f.show_if.field))
                continue
            if target.key == f.key:
                self.problem(where, _("« show_if » ne peut pas renvoyer au champ lui-même."))
                continue
            if target.type not in CONDITION_TYPES:
                self.problem(where, _("« show_if » ne peut pas tester un champ de type « %(type)s ».", type=target.type))
                continue
            for value in f.show_if.values:
                if not _value_fits(target, value):
                    self.problem(where, _("« show_if » : la valeur %(value)s ne peut pas être une réponse à « %(field)s ».",
                                          value=json.dumps(value, ensure_ascii=False), field=target.key))
        # Cycles: a → b → a would make both fields hidden forever.
        for f in by_key.values():
            seen = [f.key]
            current = f
            while current.show_if is not None and current.show_if.field in by_key:
                nxt = current.show_if.field
                if nxt in seen:
                    if nxt == f.key and len(seen) > 1:
                        self.problem(_("Champ « %(key)s »", key=f.key),
                                     _("« show_if » forme une boucle : %(cycle)s.", cycle=" → ".join([*seen, nxt])))
                    break
                seen.append(nxt)
                current = by_key[nxt]
        for target in MAPS_TO:
            mapped = [f.key for f in by_key.values() if f.maps_to == target]
            if len(mapped) > 1:
                self.problem(_("Définition"), _("plusieurs champs alimentent « %(target)s » : %(keys)s.", target=target,
                                                keys=", ".join(mapped)))
        for role in BUDGET_ROLES:
            fields = [f.key for f in by_key.values() if f.budget_role == role]
            if len(fields) > 1:
                self.problem(_("Définition"), _("plusieurs tableaux ont « budget_role: %(role)s » : %(keys)s.", role=role,
                                                keys=", ".join(fields)))


def _value_fits(target: Field, value: Any) -> bool:
    if target.type == "yes_no":
        return isinstance(value, bool)
    if target.type in ("choice", "multi_choice"):
        return isinstance(value, str) and value in target.option_values
    if target.type == "number":
        return _is_int(value) and target.decimals == 0
    if target.type == "money":
        return _is_int(value)
    return isinstance(value, str)
