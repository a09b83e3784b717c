"""The whole path of a file, as people do it in a real browser (Chromium):
a company signs up and confirms its address, registers its organisation by
SIRET, applies to the Pack IA with its documents and downloads its receipt;
an instructor checks the eligibility and asks for a correction; the company
corrects and re-submits. Every page seen is screenshotted
(tests/e2e/artifacts/) and checked by axe-core and for CSP refusals.

The journey is a list of steps sharing a ``State`` (the people's tabs and what
they learnt): later steps (reviews, committee, finance, payments) are added
as functions appended to ``JOURNEY``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from app.models import Application, CorrectionRequest
from app.operations.demo import seed_demo
from tests.e2e.conftest import Journey, in_db
from tests.journey import (CORRECTED, DEMO_PASSWORD, INSTRUCTOR, PACK, answers_for, document_for, drain, file_keys,
                           make_pdf, page_posts)

# « Mécanique de précision d'Alsace », in the offline company registry (app/data/registry_offline.json).
SIRET, DEPARTMENT = "38914502000175", "68"
EMAIL, PASSWORD = "direction@mecanique-alsace.fr", "Un mot de passe solide 2026"
CORRECTED_TEXT = "Deux caméras et un modèle de vision trient les pièces non conformes, détail des lots de travail joint."


@dataclass
class State:
    app: Any
    journeys: Any
    outbox: list
    files: Path
    company: Journey | None = None
    instructor: Journey | None = None
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
    page.get_by_role("link", name="Corriger ces éléments").click()
    page.wait_for_load_state()
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


JOURNEY: list[Callable[[State], None]] = [
    company_signs_up,
    company_registers_its_organisation,
    company_applies_to_the_pack_ia,
    instructor_checks_and_requests_a_correction,
    company_corrects_and_resubmits,
]


def test_a_file_from_sign_up_to_resubmission_in_the_browser(app, journeys, outbox, tmp_path):
    with in_db(app) as s:
        seed_demo(s)
    state = State(app=app, journeys=journeys, outbox=outbox, files=tmp_path)
    for step in JOURNEY:
        step(state)
