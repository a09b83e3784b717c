"""The whole path of a file, as people do it in a real browser (Chromium):
a company signs up and confirms its address, registers its organisation by
SIRET, applies to the Pack IA with its documents and downloads its receipt;
an instructor checks the eligibility and asks for a correction; the company
corrects and re-submits; the instructor confirms the eligibility, scores the
file, writes the instruction report and proposes it to the committee; the
Commission permanente votes on it in a session (a proxy, a withdrawal); the
finance officer exports the session's decision letters as a ZIP, watching its
progress; the company reads its decision letter; the instructor prepares the
agreement, finance records it signed, and the company files an advance
payment request. Every page seen is screenshotted (tests/e2e/artifacts/) and
checked by axe-core and for CSP refusals.

The journey is a list of steps sharing a ``State`` (the people's tabs and what
they learnt), run in order by the test (``JOURNEY``)."""

from __future__ import annotations

import io
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.models import (AgendaItem, Application, CorrectionRequest, ExpertInvitation, ExportJob, PaymentRequest,
                        Review)
from app.operations.demo import seed_demo
from tests.e2e.conftest import Journey, in_db
from tests.journey import (CORRECTED, DEMO_PASSWORD, INSTRUCTOR, PACK, answers_for, document_for, drain, file_keys,
                           make_pdf, page_posts, pdf_text)

# « Mécanique de précision d'Alsace », in the offline company registry (app/data/registry_offline.json).
SIRET, DEPARTMENT = "38914502000175", "68"
EMAIL, PASSWORD = "direction@mecanique-alsace.fr", "Un mot de passe solide 2026"
CORRECTED_TEXT = "Deux caméras et un modèle de vision trient les pièces non conformes, détail des lots de travail joint."
FINANCE = "demo-finance@guichet.test"
EXPERT, EXPERT_NAME = "demo-expert@guichet.test", "Thomas Petit"
# The demo's Commission permanente (app/operations/demo_committee.py): the chair first.
COMMITTEE_NAME = "Commission permanente du Conseil régional"
CHAIR, SECOND, THIRD, FOURTH, FIFTH = (
    ("demo-committee@guichet.test", "Isabelle Moreau"), ("demo-committee2@guichet.test", "Jean-Marc Schaeffer"),
    ("demo-committee3@guichet.test", "Nadia Benali"), ("demo-committee4@guichet.test", "Pierre Hoffmann"),
    ("demo-committee5@guichet.test", "Élodie Kieffer"))
PROPOSED = "30 000"  # € proposed by the instructor (the aid computed is 50 % of 70 000,50 €)
PROPOSED_CENTS = 3_000_000


@dataclass
class State:
    app: Any
    journeys: Any
    outbox: list
    files: Path
    company: Journey | None = None
    instructor: Journey | None = None
    finance: Journey | None = None
    reference: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def step(self, who: Journey, name: str) -> None:
        self.journeys.step(who, name)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def login(state: State, who: Journey, email: str, password: str) -> None:
    page = who.page
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    assert "/connexion" not in page.url, page.inner_text("main")


def fill_control(page, name: str, value: Any) -> None:
    """Type or choose ``value`` in the visible control named ``name``."""
    control = page.locator(f'[name="{name}"]').first
    if not control.is_visible():
        return  # a field hidden by its condition: a person does not see it
    kind = control.evaluate("e => e.tagName === 'INPUT' ? e.type : e.tagName")
    if kind == "SELECT":
        control.select_option(value)
    elif kind == "date":  # the browser's date picker takes and sends ISO dates
        day, month, year = value.split("/")
        control.fill(f"{year}-{month}-{day}")
    elif kind in ("radio", "checkbox"):
        for choice in value if isinstance(value, list) else [value]:
            page.locator(f'[name="{name}"][value="{choice}"]').check()
    else:
        control.fill(value)


def fill_section(page, data: dict[str, Any]) -> None:
    """Fill a section of the form in order; when the data has more rows than the
    page shows, « Ajouter une ligne » (which saves and reloads) first."""
    for _attempt in range(5):
        missing = [name for name in data if page.locator(f'[name="{name}"]').count() == 0]
        if not missing:
            break
        rows_key = re.match(r"([a-z0-9_]+)-\d+-", missing[0])
        assert rows_key, f"no control named {missing[0]!r} on {page.url}"
        for name, value in data.items():
            if page.locator(f'[name="{name}"]').count():
                fill_control(page, name, value)
        page.locator(f'button[value="add:{rows_key.group(1)}"]').click()
        page.wait_for_load_state()
    for name, value in data.items():
        fill_control(page, name, value)


def upload(page, key: str, path: Path) -> None:
    page.set_input_files(f"#piece-{key}", str(path))
    page.locator(f'form:has(#piece-{key}) button[type="submit"]').click()
    page.wait_for_load_state()
    assert f"« {path.name} » est enregistré" in page.inner_text("body"), page.inner_text("main")[:800]


def application(state: State) -> Application:
    with in_db(state.app) as s:
        row = s.execute(select(Application).where(Application.reference == state.reference)).scalar_one()
        s.expunge(row)
        return row


def submit(page, form: str) -> None:
    """Press the submit button of the form matching the CSS selector ``form``, wait for the next page."""
    page.locator(f'{form} button[type="submit"]').first.click()
    page.wait_for_load_state()


def follow(page, name) -> None:
    """Click the link named ``name`` (text or pattern), wait for the next page."""
    page.get_by_role("link", name=name).click()
    page.wait_for_load_state()


def expect_message(page, text: str) -> None:
    """The page says ``text`` (a flashed message, usually); else show what it says instead."""
    body = page.inner_text("main")
    assert text in body, body[:1500]


def paris_today():
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def option_value(page, select: str, text: str) -> str:
    """The value of the option of ``select`` whose label contains ``text``."""
    option = page.locator(f"{select} option", has_text=text).first
    assert option.count(), f"no option « {text} » in {select} on {page.url}"
    return option.get_attribute("value")


@contextmanager
def held_jobs(app):
    """Background jobs held back until ``release()``, as a queue holds them until a
    worker takes them: with Redis (REDIS_URL) they wait in RQ and a worker
    drains them; without, the jobs the app would run at once in-process
    (JOBS_EAGER in tests) are kept aside and run on release."""
    from app.jobs import _run_in_context

    held: list = []

    def release() -> None:
        if app.config.get("REDIS_URL"):
            drain(app)
        while held:
            _run_in_context(app, held.pop(0))

    if app.config.get("REDIS_URL"):
        yield release
        return
    job_runner = app.extensions["guichet_jobs"]
    job_runner.dispatch = held.append  # an instance attribute: the class's method is left alone
    try:
        yield release
    finally:
        del job_runner.dispatch
        release()


# --------------------------------------------------------------------------- steps


def company_signs_up(state: State) -> None:
    company = state.company = state.journeys.open("entreprise")
    page = company.page
    page.goto("/")
    state.step(company, "accueil")
    page.goto("/inscription")
    page.get_by_label("Nom et prénom").fill("Claire Schmitt")
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Confirmation du mot de passe").fill(PASSWORD)
    state.step(company, "inscription")
    page.get_by_role("button", name="Créer mon compte").click()
    page.wait_for_load_state()
    assert EMAIL in page.inner_text("main"), page.inner_text("main")
    state.step(company, "courriel envoyé")

    mail = [m for m in state.outbox if m["To"] == EMAIL]
    assert len(mail) == 1
    link = re.search(r"https?://\S+/confirmer/\S+", mail[0].get_content())
    assert link, mail[0].get_content()
    page.goto(path_of(link.group(0)))
    assert "Votre adresse est confirmée" in page.inner_text("body")
    state.step(company, "adresse confirmée")
    login(state, company, EMAIL, PASSWORD)
    state.step(company, "espace entreprise")


def company_registers_its_organisation(state: State) -> None:
    company = state.company
    page = company.page
    page.goto("/espace/organisations/nouvelle")
    page.get_by_label("SIRET").fill(SIRET[:3] + " " + SIRET[3:6] + " " + SIRET[6:9] + " " + SIRET[9:])
    state.step(company, "recherche du SIRET")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    assert "Organisation trouvée dans le répertoire des entreprises" in page.inner_text("main")
    assert page.get_by_label("Raison sociale").input_value() == "Mécanique de précision d'Alsace"
    page.get_by_label("Effectif (équivalents temps plein)").fill("42")
    page.get_by_label("Chiffre d'affaires annuel").fill("6 800 000")
    page.get_by_label("Total du bilan annuel").fill("4 000 000")
    state.step(company, "organisation préremplie")
    page.get_by_role("button", name="Inscrire l'organisation").click()
    page.wait_for_load_state()
    assert "Mécanique de précision d'Alsace" in page.inner_text("main")
    state.step(company, "organisation inscrite")


def company_applies_to_the_pack_ia(state: State) -> None:
    company = state.company
    page = company.page
    page.goto(f"/appels/{PACK}")
    state.step(company, "appel Pack IA")
    page.locator(f'a[href="/espace/deposer?appel={PACK}"]').first.click()
    page.wait_for_load_state()
    page.get_by_label("Titre provisoire du projet").fill("Vision industrielle en sortie de ligne")
    state.step(company, "nouveau brouillon")
    page.get_by_role("button", name="Créer le brouillon").click()
    page.wait_for_load_state()
    match = re.search(r"/espace/dossiers/([A-Z]+-\d{4}-\d{4})/brouillon/", page.url)
    assert match, page.url
    state.reference = match.group(1)

    posts = page_posts(PACK, {"siret": SIRET, "department": DEPARTMENT})
    for section, data in posts.items():
        assert f"/brouillon/{section}" in page.url, (section, page.url)
        fill_section(page, data)
        state.step(company, f"section {section}")
        page.locator('.cf-actions button[value="next"]').click()
        page.wait_for_load_state()
        assert "n'a pas été enregistré" not in page.inner_text("main"), page.inner_text("main")[:1500]

    assert "/brouillon/pieces" in page.url, page.url
    for key in file_keys(PACK):
        content, name = document_for(key)
        path = state.files / name
        path.write_bytes(content)
        upload(page, key, path)
    state.step(company, "pièces jointes")

    page.goto(f"/espace/dossiers/{state.reference}/brouillon")
    expected = answers_for(PACK, {"siret": SIRET, "department": DEPARTMENT})
    assert {k: v for k, v in application(state).answers.items() if k in expected} == expected
    assert "Le dossier est complet : vous pouvez le déposer." in page.inner_text("main")
    state.step(company, "récapitulatif complet")
    page.get_by_role("button", name="Déposer le dossier").click()
    page.wait_for_load_state()
    assert f"Votre dossier {state.reference} est déposé" in page.inner_text("body")
    state.step(company, "dossier déposé")

    drain(state.app)  # with Redis, the receipt and the checks are jobs: run them
    page.reload()
    with page.expect_download() as download:
        page.locator(f'a[href="/espace/dossiers/{state.reference}/accuse-de-reception.pdf"]').first.click()
    receipt = Path(download.value.path()).read_bytes()
    assert receipt.startswith(b"%PDF")
    assert application(state).state == "submitted"


def instructor_checks_and_requests_a_correction(state: State) -> None:
    instructor = state.instructor = state.journeys.open("instructeur")
    page = instructor.page
    login(state, instructor, INSTRUCTOR, DEMO_PASSWORD)
    page.goto("/instruction/")
    assert state.reference in page.inner_text("main")
    state.step(instructor, "liste des dossiers")
    page.get_by_role("link", name=state.reference).first.click()
    page.wait_for_load_state()
    # Before opening the file, the instructor declares their links with it (conflicts of interest).
    assert "/conflit" in page.url
    state.step(instructor, "déclaration de conflit d'intérêts")
    page.check("#conflict-no")
    page.get_by_role("button", name="Enregistrer ma déclaration").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/instruction/dossiers/{state.reference}")
    state.step(instructor, "dossier déposé")
    page.locator('form[action$="/transitions/start_eligibility"] button[type="submit"]').click()
    page.wait_for_load_state()
    assert application(state).state == "eligibility_check"
    state.step(instructor, "contrôle d'éligibilité")

    answer_key, document_key = CORRECTED[PACK]
    page.check(f"#key-{answer_key}")
    page.check(f"#key-{document_key}")
    page.fill("#corrections-message", "Précisez les lots de travail et joignez le devis signé.")
    state.step(instructor, "demande de corrections")
    page.locator('form[action$="/corrections"] button[type="submit"]').click()
    page.wait_for_load_state()
    assert application(state).state == "corrections_requested"
    state.step(instructor, "corrections demandées")


def company_corrects_and_resubmits(state: State) -> None:
    company = state.company
    page = company.page
    answer_key, document_key = CORRECTED[PACK]
    page.goto(f"/espace/dossiers/{state.reference}")
    assert "Précisez les lots de travail" in page.inner_text("main")
    state.step(company, "demande reçue")
    page.goto(f"/espace/dossiers/{state.reference}/corrections")
    page.fill(f'[name="{answer_key}"]', CORRECTED_TEXT)
    page.get_by_role("button", name="Enregistrer les corrections").click()
    page.wait_for_load_state()
    assert "Corrections enregistrées" in page.inner_text("main")
    state.step(company, "réponse corrigée")
    follow(page, "Corriger ces éléments")
    signed = state.files / "devis signé.pdf"
    signed.write_bytes(make_pdf("Devis signé"))
    upload(page, document_key, signed)
    state.step(company, "nouveau devis")
    page.get_by_role("button", name="Redéposer le dossier").click()
    page.wait_for_load_state()
    state.step(company, "dossier redéposé")
    drain(state.app)

    file = application(state)
    assert file.state == "eligibility_check"
    assert file.answers[answer_key] == CORRECTED_TEXT
    with in_db(state.app) as s:
        request = s.execute(select(CorrectionRequest).where(CorrectionRequest.application_id == file.id)).scalar_one()
        assert request.resolved_at is not None


def instructor_confirms_eligibility_and_instructs(state: State) -> None:
    instructor = state.instructor
    page = instructor.page
    page.goto(f"/instruction/dossiers/{state.reference}")
    assert application(state).state == "eligibility_check"
    page.check("#eligible-yes")
    page.fill("#eligibility-justification", "Compléments reçus : lots de travail détaillés et devis signé.")
    state.step(instructor, "décision d'éligibilité")
    submit(page, 'form[action$="/eligibilite"]')
    expect_message(page, "Décision d'éligibilité enregistrée.")
    state.step(instructor, "éligibilité confirmée")
    submit(page, 'form[action$="/transitions/start_instruction"]')
    expect_message(page, "Action enregistrée.")
    assert application(state).state == "instruction"
    state.step(instructor, "dossier en instruction")


def instructor_scores_the_file(state: State) -> None:
    instructor = state.instructor
    page = instructor.page
    follow(page, "Mon avis sur ce dossier")
    assert page.url.endswith(f"/instruction/dossiers/{state.reference}/avis"), page.url
    scores = {"innovation": "4", "impact": "4", "faisabilite": "3", "equipe": "4", "strategie": "5", "ethique": "4"}
    for code, score in scores.items():
        page.fill(f"#score-{code}", score)
    page.fill("#comment-faisabilite", "Prestataire solide ; jeu de données d'images à constituer.")
    page.fill("#opinion", "Premier projet d'IA bien cadré, gains de qualité mesurables en sortie de ligne.")
    state.step(instructor, "grille d'évaluation")
    page.get_by_role("button", name="Transmettre l'avis").click()
    page.wait_for_load_state()
    expect_message(page, "Votre avis est transmis.")
    state.step(instructor, "avis transmis")
    file = application(state)
    with in_db(state.app) as s:
        review = s.execute(select(Review).where(Review.application_id == file.id)).scalar_one()
        assert review.status == "submitted" and review.scores["strategie"] == 5


def an_expert_scores_the_file(state: State) -> None:
    """The instructor invites the demo expert on the file; the expert, in their own tab, finds it
    among their expertises, declares no conflict of interest, and transmits their scores."""
    instructor = state.instructor
    page = instructor.page
    page.goto(f"/instruction/dossiers/{state.reference}")
    page.fill("#expert-email", EXPERT)
    state.step(instructor, "invitation d'un expert")
    submit(page, 'form[action$="/experts"]')
    file = application(state)
    with in_db(state.app) as s:
        invitation = s.execute(select(ExpertInvitation).where(ExpertInvitation.application_id == file.id)).scalar_one()
        assert invitation.revoked_at is None
    assert EXPERT_NAME in page.inner_text("main")

    expert = state.journeys.open("expert")
    login(state, expert, EXPERT, DEMO_PASSWORD)
    page = expert.page
    page.goto("/instruction/expertise")
    state.step(expert, "mes expertises")
    follow(page, state.reference)
    assert page.url.endswith(f"/instruction/expertise/{state.reference}/declaration"), page.url
    state.step(expert, "déclaration d'intérêts")
    page.check("#conflict-no")
    submit(page, "form.card")
    expect_message(page, "Déclaration enregistrée.")
    state.step(expert, "dossier partagé avec l'expert")
    follow(page, "Noter ce dossier et rendre mon avis")
    scores = {"innovation": "3", "impact": "4", "faisabilite": "4", "equipe": "3", "strategie": "4", "ethique": "5"}
    for code, score in scores.items():
        page.fill(f"#score-{code}", score)
    page.fill("#opinion", "Cas d'usage pertinent ; prévoir l'annotation d'un jeu d'images représentatif.")
    state.step(expert, "grille de l'expert")
    page.get_by_role("button", name="Transmettre l'avis").click()
    page.wait_for_load_state()
    expect_message(page, "Votre avis est transmis.")
    state.step(expert, "avis de l'expert transmis")
    with in_db(state.app) as s:
        reviews = s.execute(select(Review).where(Review.application_id == file.id)).scalars().all()
        assert sorted(r.reviewer_role for r in reviews) == ["expert", "instructor"]
        assert all(r.status == "submitted" for r in reviews)


def instructor_reports_and_proposes(state: State) -> None:
    instructor = state.instructor
    page = instructor.page
    page.goto(f"/instruction/dossiers/{state.reference}")
    follow(page, "Rapport d'instruction")
    assert page.url.endswith(f"/instruction/dossiers/{state.reference}/rapport"), page.url
    state.step(instructor, "rapport d'instruction")
    page.fill("#report-opinion", "Avis favorable : dépenses retenues en totalité, aide de minimis à 50 %.")
    page.get_by_role("button", name="Enregistrer le rapport").click()
    page.wait_for_load_state()
    expect_message(page, "Rapport enregistré.")
    page.fill("#amount", PROPOSED)
    page.fill("#proposal-reason", "Montant arrondi.")
    state.step(instructor, "proposition de montant")
    page.get_by_role("button", name="Enregistrer la proposition").click()
    page.wait_for_load_state()
    expect_message(page, "Montant proposé enregistré.")
    assert application(state).proposed_amount_cents == PROPOSED_CENTS
    state.step(instructor, "montant proposé")

    follow(page, "Retour au dossier")
    submit(page, 'form[action$="/transitions/propose_to_committee"]')
    expect_message(page, "Action enregistrée.")
    assert application(state).state == "committee"
    state.step(instructor, "proposé en commission")


def staff_prepares_the_committee_session(state: State) -> None:
    """The instructor (staff) plans a session of the Commission permanente,
    puts the file on its agenda and keeps the attendance: four members
    present, Élodie Kieffer represented by Nadia Benali (proxy)."""
    instructor = state.instructor
    page = instructor.page
    page.goto("/commission/gestion")
    state.step(instructor, "commissions et séances")
    page.get_by_label("Commission", exact=True).select_option(label=COMMITTEE_NAME)
    page.get_by_label("Date").fill(paris_today().isoformat())
    page.get_by_label("Heure").fill("10:00")
    page.get_by_label("Lieu").fill("Hôtel de Région, Châlons-en-Champagne")
    state.step(instructor, "nouvelle séance")
    page.get_by_role("button", name="Programmer").click()
    page.wait_for_load_state()
    match = re.search(r"/commission/seances/(\d+)$", page.url)
    assert match, page.url
    state.extra["session_id"] = int(match.group(1))
    expect_message(page, "Séance programmée.")

    page.select_option("#item-application_id", option_value(page, "#item-application_id", state.reference))
    page.get_by_role("button", name="Inscrire").click()
    page.wait_for_load_state()
    expect_message(page, f"Dossier {state.reference} inscrit à l'ordre du jour.")
    state.step(instructor, "dossier inscrit à l'ordre du jour")

    for (_email, name), status, holder in [(CHAIR, "present", None), (SECOND, "present", None),
                                           (THIRD, "present", None), (FOURTH, "present", None),
                                           (FIFTH, "represented", THIRD[1])]:
        page.select_option("#attendance-member_id", label=name)
        page.select_option("#attendance-status", status)
        page.select_option("#attendance-holder_id", label=holder or "— aucune —")
        if holder:
            state.step(instructor, "procuration")
        submit(page, 'form[action$="/presences"]')
        expect_message(page, f"Présence de {name} enregistrée.")
    attendance = page.locator("table").first.inner_text()
    assert re.search(rf"{FIFTH[1]}\s+Représenté\(e\)\s+{THIRD[1]}", attendance), attendance
    page.get_by_role("button", name="Ouvrir la séance").click()
    page.wait_for_load_state()
    expect_message(page, "Séance ouverte.")
    state.step(instructor, "séance ouverte")


def a_member_withdraws_from_the_item(state: State) -> None:
    """Pierre Hoffmann declares his withdrawal (déport) from the item himself, on its page."""
    member = state.journeys.open("commission-4")
    page = member.page
    login(state, member, FOURTH[0], DEMO_PASSWORD)
    page.goto("/commission/")
    state.step(member, "espace commission")
    page.locator(f'a[href="/commission/seances/{state.extra["session_id"]}"]').click()
    page.wait_for_load_state()
    follow(page, state.reference)
    state.extra["item_path"] = path_of(page.url)
    page.get_by_label("Motif du déport").fill("Client du prestataire Datavosges Conseil")
    state.step(member, "déclaration de déport")
    page.get_by_role("button", name="Déclarer mon déport").click()
    page.wait_for_load_state()
    expect_message(page, f"Le déport est enregistré : {FOURTH[1]} ne prend pas part au vote sur ce point.")
    state.step(member, "déport enregistré")


def committee_votes(state: State) -> None:
    """Staff opens the vote; the members vote in their own tabs (Nadia Benali
    also for Élodie Kieffer, whose proxy she holds); staff closes the vote and
    the session: the aid is granted, with its deliberation number."""
    instructor = state.instructor
    page = instructor.page
    session_path = f"/commission/seances/{state.extra['session_id']}"
    page.goto(session_path)
    page.get_by_role("button", name="Ouvrir le vote").click()
    page.wait_for_load_state()
    expect_message(page, "Vote ouvert.")
    state.step(instructor, "vote ouvert")

    for (email, name), choices in [(CHAIR, {"Votre vote": "for"}), (SECOND, {"Votre vote": "abstain"}),
                                   (THIRD, {"Votre vote": "for", f"Vote de {FIFTH[1]} (procuration)": "for"})]:
        member = state.journeys.open(f"commission-{email.split('@')[0].removeprefix('demo-committee') or '1'}")
        login(state, member, email, DEMO_PASSWORD)
        mpage = member.page
        mpage.goto(session_path)
        for label, choice in choices.items():
            form = mpage.locator('form[action$="/vote"]', has=mpage.get_by_label(label, exact=True))
            form.get_by_label(label, exact=True).select_option(choice)
            if len(choices) > 1 and label != "Votre vote":
                state.step(member, "vote par procuration")
            form.get_by_role("button", name="Voter").click()
            mpage.wait_for_load_state()
            expect_message(mpage, "Vote enregistré pour")
        state.step(member, "vote enregistré")

    page.goto(session_path)
    state.step(instructor, "votes exprimés")
    page.get_by_role("button", name="Clore le vote").click()
    page.wait_for_load_state()
    expect_message(page, "Vote clos : la délibération est enregistrée.")
    file = application(state)
    assert file.state == "approved", file.state
    assert file.awarded_amount_cents == PROPOSED_CENTS
    assert re.fullmatch(rf"CP-{paris_today().isoformat()}-\d{{3}}", file.deliberation_number or ""), file.deliberation_number
    state.extra["deliberation"] = file.deliberation_number
    assert file.deliberation_number in page.inner_text("main")
    with in_db(state.app) as s:
        item = s.execute(select(AgendaItem).where(AgendaItem.application_id == file.id)).scalar_one()
        assert (item.votes_for, item.votes_against, item.votes_abstain) == (3, 0, 1)
        assert [w.user.email for w in item.withdrawals] == [FOURTH[0]]
        proxy = [v for v in item.votes if v.voter.email == FIFTH[0]]
        assert len(proxy) == 1 and proxy[0].cast_by.email == THIRD[0]
    state.step(instructor, "aide accordée")
    page.get_by_role("button", name="Clore la séance").click()
    page.wait_for_load_state()
    expect_message(page, "Séance close")
    drain(state.app)  # with Redis: the decision letter and the minutes are jobs
    page.goto(state.extra["item_path"])
    expect_message(page, f"délibération n° {file.deliberation_number}")
    state.step(instructor, "délibération")


def finance_exports_the_letters(state: State) -> None:
    """The finance officer exports the session's decision letters: the job is
    held back like a queued one, so the progress page is seen waiting (its
    script polls the status; without script a meta refresh reloads it), then
    the job runs and the page shows the ZIP to download."""
    finance = state.finance = state.journeys.open("finances")
    page = finance.page
    login(state, finance, FINANCE, DEMO_PASSWORD)
    page.goto("/finances/")
    follow(page, "Exporter les lettres de décision d'une séance")
    assert path_of(page.url) == "/finances/exports", page.url
    page.get_by_label("Séance (préfixe des délibérations)").select_option(f"seance-{state.extra['session_id']}")
    state.step(finance, "export des lettres")
    with held_jobs(state.app) as release:
        page.get_by_role("button", name="Lancer l'export").click()
        page.wait_for_load_state()
        assert re.search(r"/finances/exports/\d+$", page.url), page.url
        expect_message(page, "L'export est en préparation")
        assert page.locator("#export-state").inner_text() == "En attente"
        assert page.locator("#export-progress").get_attribute("value") == "0"
        assert '<meta http-equiv="refresh"' in page.content()  # inside <noscript>: the page reloads without script
        state.step(finance, "export en attente")
        release()
        # the page's script polls the status and reloads it once the job has ended
        page.get_by_role("link", name="Télécharger le ZIP").wait_for(timeout=20_000)
    assert page.locator("#export-state").inner_text() == "Terminé"
    assert page.locator("#export-count").inner_text() == "1 / 1"
    state.step(finance, "export terminé")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le ZIP").click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        assert archive.namelist() == [f"{state.reference}.pdf"], archive.namelist()
        assert archive.read(f"{state.reference}.pdf").startswith(b"%PDF")
    with in_db(state.app) as s:
        assert s.execute(select(ExportJob.status)).scalars().all() == ["done"]


def company_reads_its_decision(state: State) -> None:
    company = state.company
    page = company.page
    page.goto(f"/espace/dossiers/{state.reference}")
    expect_message(page, "Aide accordée")
    state.step(company, "décision reçue")
    with page.expect_download() as download:
        page.get_by_role("link", name="Lettre de notification de la décision (PDF)").click()
    letter = Path(download.value.path()).read_bytes()
    assert letter.startswith(b"%PDF")
    assert state.extra["deliberation"] in pdf_text(letter)


def agreement_is_signed(state: State) -> None:
    """The instructor prepares the agreement (approved → agreement); finance
    records it signed (agreement → payments, the aid is committed)."""
    instructor = state.instructor
    page = instructor.page
    page.goto(f"/instruction/dossiers/{state.reference}")
    submit(page, 'form[action$="/transitions/prepare_agreement"]')
    expect_message(page, "Action enregistrée.")
    assert application(state).state == "agreement"
    state.step(instructor, "convention établie")
    drain(state.app)

    finance = state.finance
    page = finance.page
    page.goto("/versements/")
    state.step(finance, "conventions à enregistrer")
    follow(page, re.compile(re.escape(state.reference)))
    assert page.get_by_label("Date de signature").input_value() == paris_today().isoformat()
    page.get_by_label("Taux d'aide (%)").fill("50")
    page.get_by_label("Assiette des dépenses éligibles").fill("70 000")
    state.step(finance, "convention signée")
    page.get_by_role("button", name="Enregistrer la convention signée et engager l'aide").click()
    page.wait_for_load_state()
    expect_message(page, "La convention est enregistrée et l'aide est engagée.")
    assert application(state).state == "payments"
    state.step(finance, "aide engagée")


def company_requests_the_advance(state: State) -> None:
    company = state.company
    page = company.page
    page.goto(f"/espace/dossiers/{state.reference}")
    follow(page, "Convention, demandes de versement et justificatifs")
    assert path_of(page.url) == f"/versements/dossiers/{state.reference}", page.url
    page.get_by_label("Type de versement").select_option("advance")
    page.get_by_label("Date de début des travaux").fill(paris_today().isoformat())
    proof = state.files / "ordre de service.pdf"
    proof.write_bytes(make_pdf("Ordre de service"))
    page.set_input_files("#proofs", str(proof))
    state.step(company, "demande d'avance")
    page.get_by_role("button", name="Déposer la demande").click()
    page.wait_for_load_state()
    expect_message(page, "Votre demande de versement est déposée")
    state.step(company, "avance demandée")
    file = application(state)
    with in_db(state.app) as s:
        request = s.execute(select(PaymentRequest).where(PaymentRequest.application_id == file.id)).scalar_one()
        # the advance: 30 % of the aid committed, without a bank guarantee
        assert (request.kind, request.status, request.requested_cents) == ("advance", "filed", PROPOSED_CENTS * 30 // 100)

    finance = state.finance
    finance.page.goto("/versements/")
    assert state.reference in finance.page.locator("#a-traiter").locator("..").inner_text()
    state.step(finance, "demande à valider")


JOURNEY: list[Callable[[State], None]] = [
    company_signs_up,
    company_registers_its_organisation,
    company_applies_to_the_pack_ia,
    instructor_checks_and_requests_a_correction,
    company_corrects_and_resubmits,
    instructor_confirms_eligibility_and_instructs,
    instructor_scores_the_file,
    an_expert_scores_the_file,
    instructor_reports_and_proposes,
    staff_prepares_the_committee_session,
    a_member_withdraws_from_the_item,
    committee_votes,
    finance_exports_the_letters,
    company_reads_its_decision,
    agreement_is_signed,
    company_requests_the_advance,
]


def test_a_file_from_sign_up_to_payment_request_in_the_browser(app, journeys, outbox, tmp_path):
    with in_db(app) as s:
        seed_demo(s)
    state = State(app=app, journeys=journeys, outbox=outbox, files=tmp_path)
    for step in JOURNEY:
        step(state)
