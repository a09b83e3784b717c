"""The applicant form works with the keyboard alone: log in, move through a
section of the draft with Tab, type and choose answers, save with Enter —
no mouse click anywhere (WCAG 2.1.1)."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import Application
from app.operations.demo import seed_demo
from tests.e2e.conftest import in_db
from tests.journey import APPLICANT, DEMO_PASSWORD, PACK

# What the person types when Tab reaches each control ("Control+A" first replaces the text).
TYPED = {"effectif": "7", "chiffre_affaires": "1 250 000", "code_naf": "6201Z"}
# A select is chosen by typing the start of the option's text.
CHOSEN = {"departement_etablissement": ("67", "67")}


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        return {tag: e.tagName, name: e.name || '', type: e.type || '', value: e.value || '',
                text: (e.innerText || '').trim(), id: e.id || ''}; }""")


def test_a_draft_section_is_filled_and_saved_with_the_keyboard_alone(app, journeys):
    with in_db(app) as s:
        seed_demo(s)
    tab = journeys.open("clavier")
    page = tab.page

    # log in: the e-mail field has the focus, Tab to the password, Enter submits
    page.goto("/connexion")
    assert focused(page)["name"] == "email"
    page.keyboard.type(APPLICANT)
    page.keyboard.press("Tab")
    assert focused(page)["name"] == "password"
    page.keyboard.type(DEMO_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/connexion" not in page.url

    # a new draft: Tab to the organisation (Space chooses it) and to « Créer le brouillon »
    page.goto(f"/espace/deposer?appel={PACK}")
    for _press in range(40):
        page.keyboard.press("Tab")
        element = focused(page)
        if element["type"] == "radio" and element["name"] == "organisation":
            page.keyboard.press("Space")
        if element["tag"] == "BUTTON" and element["text"] == "Créer le brouillon":
            break
    else:
        raise AssertionError("Tab never reached « Créer le brouillon »")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    match = re.search(r"/espace/dossiers/([A-Z]+-\d{4}-\d{4})/brouillon/entreprise", page.url)
    assert match, page.url
    reference = match.group(1)
    journeys.step(tab, "section au clavier")
    reached: list[str] = []
    for _press in range(120):
        page.keyboard.press("Tab")
        element = focused(page)
        if element["name"]:
            reached.append(element["name"])
        if element["name"] in TYPED:
            page.keyboard.press("Control+A")
            page.keyboard.type(TYPED[element["name"]])
        elif element["name"] in CHOSEN:
            page.keyboard.type(CHOSEN[element["name"]][0])
            assert page.eval_on_selector(f'[name="{element["name"]}"]', "e => e.value") == CHOSEN[element["name"]][1]
        elif element["tag"] == "BUTTON" and element["value"] == "save":
            break
    else:
        raise AssertionError(f"Tab never reached « Enregistrer le brouillon »; reached: {reached}")
    assert set(TYPED) | set(CHOSEN) <= set(reached), reached
    journeys.step(tab, "section remplie au clavier")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Brouillon enregistré." in page.inner_text("body")
    journeys.step(tab, "brouillon enregistre au clavier")

    with in_db(app) as s:
        answers = s.execute(select(Application.answers).where(Application.reference == reference)).scalar_one()
    assert answers["effectif"] == 7
    assert answers["chiffre_affaires"] == 125_000_000
    assert answers["code_naf"] == "6201Z"
    assert answers["departement_etablissement"] == "67"
