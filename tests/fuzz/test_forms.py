"""Property-based fuzzing (hypothesis) of the WTForms forms of app/forms/*:
every form class, found by walking the modules, validated inside a French
request with random and adversarial values (any text, huge or odd numbers,
impossible dates, NaN, control characters, repeated keys): ``validate()``
never raises, and every error it reports is a French sentence, never one of
WTForms' English defaults. Then the same kind of values are posted through
the real pages that use the forms, by the people allowed there: never a 500,
and a refused form says why in French. Bounded example counts (each test
stays well under a minute)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
import wtforms
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import MultipleFileField, RadioField, SelectField

import app.forms
from app.extensions import db
from app.models import Application, Call, Committee, CommitteeSession, Organisation, PaymentRequest
from app.operations.demo import seed_demo
from tests.factories import login
from tests.journey import APPLICANT, DEMO_PASSWORD, plain_text, text_of

FORMS = sorted(
    {cls for info in pkgutil.iter_modules(app.forms.__path__)
     for _name, cls in inspect.getmembers(importlib.import_module(f"app.forms.{info.name}"), inspect.isclass)
     if issubclass(cls, FlaskForm) and cls is not FlaskForm and cls.__module__.startswith("app.forms.")},
    key=lambda cls: f"{cls.__module__}.{cls.__name__}")


def _english_patterns() -> list[re.Pattern]:
    """WTForms' own messages (its catalogue template), as patterns: none may reach a French page."""
    pot = (Path(wtforms.__file__).parent / "locale" / "wtforms.pot").read_text(encoding="utf-8")
    patterns = []
    for msgid in re.findall(r'^msgid(?:_plural)? "(.+)"$', pot, flags=re.M):
        text = re.escape(msgid.replace('\\"', '"'))
        patterns.append(re.compile(re.sub(r"%\\\((\w+)\\\)[sd]|%s", ".*", text)))
    return patterns


ENGLISH = _english_patterns()
FRENCH_HINT = re.compile(r"[éèêàçùôîÉ]|\b(le|la|les|un|une|des|du|de|ce|cette|est|pas|en|au|par|saisissez|indiquez|"
                         r"choisissez|valeur|champ|date|heure|montant|nombre)\b", re.I)

# What people (and scripts) put in a form field: known troublemakers, then anything.
KNOWN_BAD = [
    "", " ", "\x00", "\u202e", "NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "1e309", "1E+999999", "-1", "0", "-0",
    "1,5", "1.5", "99999999999999999999999999", "-99999999999999999999", "9" * 400, "9" * 5000, "31/02/2026", "2026-02-31",
    "0000-00-00", "9999-12-31", "2026-13-01", "25:61", "24:00", "12:00:00", "<script>alert(1)</script>",
    "' OR '1'='1", "{montant}", "{inconnu}", "{", "}", "%s", "%(x)s", "a" * 3000, "démo@guichet", "a@b.c", "٣٤", "１２"]
ROUTE_BAD = ["", "\x00", "NaN", "sNaN", "1E+999999", "9" * 400, "9" * 5000, "-99999999999999999999", "2026-02-31", "25:61",
             "a" * 3000, "{inconnu}", "٣٤"]
adversarial = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789 ,.-:/+€%eEnaNsIfity\u00a0\u202f", max_size=25),
    st.sampled_from(KNOWN_BAD),
)


def _fill_choices(form) -> None:
    """The views fill the choices that depend on data: give them some, of the field's type."""
    for field in form:
        if isinstance(field, (SelectField, RadioField)) and field.choices is None:
            field.choices = [(1, "Un"), (2, "Deux")] if field.coerce is int else [("a", "A"), ("b", "B")]


def french(text: str) -> bool:
    text = text.strip()
    return bool(text) and not any(p.fullmatch(text) for p in ENGLISH) and bool(FRENCH_HINT.search(text))


def _problems(form) -> list[str]:
    return [f"{name}: not a French message: {str(message)!r}" for name, errors in form.errors.items()
            for message in (errors if isinstance(errors, list) else [errors]) if not french(str(message))]


def test_every_form_class_is_fuzzed():
    names = {cls.__name__ for cls in FORMS}
    assert {"SignupForm", "LegalDataForm", "PaymentRequestForm", "AgreementForm", "SessionForm", "LetterTextForm",
            "CommitteeForm", "StaffUserForm"} <= names
    assert len(FORMS) >= 25


@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: cls.__name__)
def test_a_form_validates_any_values_and_refuses_them_in_french(app, form_class):
    with app.test_request_context():
        fields = [field.name for field in form_class(meta={"csrf": False}) if not isinstance(field, MultipleFileField)]

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data):
        posted = MultiDict()
        for name in data.draw(st.lists(st.sampled_from(fields), unique=True), label="sent") if fields else []:
            for value in data.draw(st.lists(adversarial, min_size=1, max_size=2), label=name):
                posted.add(name, value)
        with app.test_request_context(method="POST", data=posted, headers={"Accept-Language": "fr"}):
            form = form_class(meta={"csrf": False})
            _fill_choices(form)
            valid = form.validate()   # never raises
            assert valid or form.errors
            problems = _problems(form)
            assert problems == [], (dict(posted.lists()), problems)

    check()


@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: cls.__name__)
def test_every_field_takes_each_known_bad_value_without_failing(app, form_class):
    """Each field of the form, alone, with each known troublemaker (the others left empty): validated, never
    an exception, refused (if at all) in French."""
    with app.test_request_context():
        fields = [field.name for field in form_class(meta={"csrf": False}) if not isinstance(field, MultipleFileField)]
    wrong = []
    for name in fields:
        for value in KNOWN_BAD:
            with app.test_request_context(method="POST", data=MultiDict([(name, value)]),
                                          headers={"Accept-Language": "fr"}):
                form = form_class(meta={"csrf": False})
                _fill_choices(form)
                try:
                    form.validate()
                except Exception as exc:  # noqa: BLE001 - any exception is the finding
                    wrong.append(f"{name}={value[:20]!r}: {type(exc).__name__}: {exc}")
                    continue
                wrong.extend(f"{name}={value[:20]!r}: {p}" for p in _problems(form))
    assert wrong == [], "\n".join(wrong[:20])


# --- through the real pages ------------------------------------------------------------------------------------


def _pages(app) -> dict[str, tuple[str, str, dict[str, str]]]:
    """page → (who posts, the URL, the fields it posts with a valid default each)."""
    with app.test_request_context():
        s = db.session
        seed_demo(s)
        s.commit()
        org = s.execute(select(Organisation).where(Organisation.name == "Atelier Numérique de Champagne")).scalar_one()
        committee = s.execute(select(Committee).where(Committee.code == "CP")).scalar_one()
        upcoming = s.execute(select(CommitteeSession).where(CommitteeSession.committee_id == committee.id,
                                                            CommitteeSession.status == "planned")).scalar_one()
        in_payment = s.execute(select(Application).where(Application.organisation_id == org.id,
                                                         Application.state == "payments")
                               .order_by(Application.id)).scalars().first()
        request = s.execute(select(PaymentRequest).where(PaymentRequest.status == "filed")
                            .order_by(PaymentRequest.id)).scalars().first()
        pack = s.execute(select(Call).where(Call.reference == "PACK-IA-2026")).scalar_one()
        return {
            "signup": ("anonymous", "/inscription", {"name": "Camille Durand", "email": "camille@example.fr",
                                                     "password": "un mot de passe solide",
                                                     "password_confirm": "un mot de passe solide"}),
            "organisation": ("applicant", f"/espace/organisations/{org.siret}/modifier",
                             {"name": "Atelier", "headcount": "42", "turnover_cents": "6 800 000",
                              "balance_sheet_cents": "4 100 000", "department": "51", "postal_code": "51100"}),
            "invitation": ("applicant", f"/espace/organisations/{org.siret}/invitations", {"email": "x@example.fr"}),
            "payment request": ("applicant", f"/versements/dossiers/{in_payment.reference}/demandes",
                                {"kind": "interim", "expenses": "Prestation ; 1 000,00", "requested_cents": "",
                                 "started_on": "2026-01-05"}),
            "committee": ("demo-admin", "/commission/commissions",
                          {"committee-name": "Jury", "committee-code": "JY", "committee-kind": "jury",
                           "committee-quorum": "2", "committee-tie_rule": "reject"}),
            "session": ("demo-admin", "/commission/seances",
                        {"session-committee_id": str(committee.id), "session-day": "2030-03-12",
                         "session-time": "10:00", "session-place": "Metz"}),
            "attendance": ("demo-admin", f"/commission/seances/{upcoming.id}/presences",
                           {"attendance-member_id": "1", "attendance-status": "present", "attendance-holder_id": "0"}),
            "vote": ("demo-committee", f"/commission/seances/{upcoming.id}/vote",
                     {"key": f"item:{upcoming.items[0].id}", "voter_id": "1", "choice": "for"}),
            "withdrawal": ("demo-committee", f"/commission/seances/{upcoming.id}/points/{upcoming.items[1].id}/deport",
                           {"member_id": "", "reason": "Lien familial"}),
            "interest": ("demo-committee", "/commission/declarations",
                         {"siret": org.siret, "description": "Actionnaire"}),
            "agreement": ("demo-finance", f"/versements/conventions/{in_payment.reference}",
                          {"signed_on": "2026-01-05", "aid_rate": "50", "eligible_costs_cents": "60 000,00"}),
            "cofinancing": ("demo-finance", f"/versements/cofinancement/{in_payment.reference}",
                            {"region": "30 000", "feder": "", "etat": "", "industriel": "", "academique": ""}),
            "validation": ("demo-finance", f"/versements/demandes/{request.id}/valider",
                           {"accepted_costs_cents": "", "accepted_cents": "", "reason": ""}),
            "letter text": ("demo-admin", f"/admin/appels/{pack.reference}/lettres/decision_approval",
                            {"body": "Madame, Monsieur,"}),
            "aid regime": ("demo-admin", f"/admin/appels/{pack.reference}/regime-aide", {"aid_regime": "de_minimis"}),
            "staff account": ("demo-admin", "/admin/utilisateurs", {"name": "Nouvel agent", "email": "agent@example.fr",
                                                                  "password": "un mot de passe solide",
                                                                  "role": "instructor", "call_id": "0"}),
        }


def _pop_flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as sess:
        return list(sess.pop("_flashes", []))


def _client(app, who: str):
    client = app.test_client()
    if who != "anonymous":
        email = APPLICANT if who == "applicant" else f"{who}@guichet.test"
        assert login(client, email, DEMO_PASSWORD).status_code == 302
    return client


def test_forms_posted_with_adversarial_values_through_their_pages_never_fail(app):
    """Each page that takes a WTForms form, posted by someone allowed there with a valid default for every
    field, some of them replaced by adversarial values: never a 500, and a refusal (4xx, or the form again) is
    worded in French."""
    pages = _pages(app)
    clients = {who: _client(app, who) for who in {who for who, _u, _d in pages.values()}}
    # every URL answers the valid defaults without a server error (so the paths are right)
    for name, (who, url, defaults) in pages.items():
        response = clients[who].post(url, data=defaults)
        assert response.status_code < 500 and response.status_code not in (403, 404, 405), (name, response.status_code)
    failures: list[str] = []

    def check(page: str, posted: MultiDict) -> None:
        who, url, _defaults = pages[page]
        where = f"{page}: POST {url} {({k: [v[:30] for v in vs] for k, vs in posted.lists()})}"
        try:
            response = clients[who].post(url, data=posted)
        except Exception as exc:  # noqa: BLE001 - the test app propagates what would be a 500
            failures.append(f"{where}: {type(exc).__name__}: {exc}")
            return
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code}")
            return
        messages = [re.sub(r"<[^>]+>", "", m) for block in re.findall(r'<ul class="errors"[^>]*>(.*?)</ul>',
                                                                        text_of(response), flags=re.S)
                    for m in re.findall(r"<li>(.*?)</li>", block, flags=re.S)]
        messages += [m for category, m in _pop_flashes(clients[who]) if category == "error"]
        if response.status_code in (400, 409, 413, 422) and not messages and not french(plain_text(response)):
            failures.append(f"{where}: {response.status_code} without a French message")
        failures.extend(f"{where}: not French: {m!r}" for m in messages if not french(m.split(" : ")[-1]))

    # each field of each page with each of the worst values, the other fields valid
    for page, (_who, _url, defaults) in sorted(pages.items()):
        for key in defaults:
            for value in ROUTE_BAD:
                posted = MultiDict(defaults)
                posted.setlist(key, [value])
                check(page, posted)

    # then random mixes of them
    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(page=st.sampled_from(sorted(pages)), data=st.data())
    def post(page, data):
        posted = MultiDict(pages[page][2])
        for key in data.draw(st.lists(st.sampled_from(sorted(posted)), min_size=1, max_size=3, unique=True)):
            posted.setlist(key, data.draw(st.lists(adversarial, min_size=0, max_size=2), label=key))
        check(page, posted)

    post()
    assert failures == [], "\n".join(failures[:20])
