"""The applicant form works with the keyboard alone (WCAG 2.1.1): log in,
create a Pack IA draft, then go through every section of its form with Tab
(and Shift+Tab), typing text, typing into the date fields, choosing in lists
by typing, checking radio buttons with Space and the arrow keys, revealing a
conditional field by an answer (and never reaching the hidden ones), adding
a row of expenses with Enter on « Ajouter une ligne », moving to the next
section with Enter; in the documents section, reaching each file input with
Tab, opening it with Space and sending it with Enter; then the summary says
the file is complete and « Déposer le dossier » is reached by Tab. No mouse
click anywhere; every page is checked by axe-core (journeys.step)."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import Application, Attachment
from app.operations.demo import seed_demo
from tests.e2e.conftest import in_db
from tests.journey import APPLICANT, DEMO_PASSWORD, PACK, answers_for, document_for, file_keys, org_of, page_posts

SECTIONS = ["entreprise", "eligibilite", "projet", "budget", "coordonnees"]


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        return {tag: e.tagName, name: e.name || '', type: e.type || '', value: e.value || '',
                text: (e.innerText || '').trim(), id: e.id || ''}; }""")


def value_of(page, name: str) -> str | None:
    """What the form would send for ``name``: the checked radio's value, or the control's value."""
    return page.evaluate("""name => {
        const controls = [...document.querySelectorAll(`[name="${name}"]`)].filter(e => e.type !== 'hidden');
        if (!controls.length) { return null; }
        if (controls[0].type === 'radio') { const c = controls.find(e => e.checked); return c ? c.value : ''; }
        return controls[0].value; }""", name)


def shown_value(element: dict, typed: str) -> str:
    """The control's value once ``typed`` is entered: a date field holds the ISO date."""
    if element["type"] == "date":
        day, month, year = typed.split("/")
        return f"{year}-{month}-{day}"
    return typed


def date_order(context) -> str:
    """The order in which this browser's date fields take the day and the month (its own locale decides,
    as it would for the person): "dm" or "md", found on a blank page."""
    probe = context.new_page()
    try:
        probe.set_content('<input type="date" id="d">')
        probe.focus("#d")
        probe.keyboard.type("01022003")
        return "dm" if probe.eval_on_selector("#d", "e => e.value") == "2003-02-01" else "md"
    finally:
        probe.close()


DATE_ORDER: dict[str, str] = {}


def answer(page, element: dict, wanted: str) -> None:
    """Enter ``wanted`` in the focused control, with keys only."""
    name = element["name"]
    if element["type"] == "radio":
        # a radio group is one tab stop: the arrow keys move the choice, Space checks the focused option
        values = page.eval_on_selector_all(f'input[type="radio"][name="{name}"]', "es => es.map(e => e.value)")
        moves = values.index(wanted) - values.index(element["value"])
        if moves == 0 and len(values) > 1:
            page.keyboard.press("ArrowRight")   # the next option is checked (« Non »: a condition hides again)…
            assert value_of(page, name) == values[values.index(wanted) + 1]
            page.keyboard.press("ArrowLeft")    # …and back
        for _move in range(abs(moves)):
            page.keyboard.press("ArrowRight" if moves > 0 else "ArrowLeft")
        if value_of(page, name) != wanted:
            page.keyboard.press("Space")
    elif element["tag"] == "SELECT":
        # type-ahead: the start of the option's text (its first plain letters and digits: key presses, where
        # an accented letter would be inserted as text)
        label = page.eval_on_selector(f'select[name="{name}"]',
                                      "(s, v) => [...s.options].find(o => o.value === v).text", wanted)
        page.keyboard.type(re.match(r"[A-Za-z0-9]+", label).group(0))
    elif element["type"] == "date":
        # the digits in the order the field shows its parts (it moves from one part to the next by itself)
        day, month, year = wanted.split("/")
        page.keyboard.type(f"{day}{month}{year}" if DATE_ORDER["order"] == "dm" else f"{month}{day}{year}")
    else:
        page.keyboard.press("Control+A")
        page.keyboard.type(wanted)
    assert value_of(page, name) == shown_value(element, wanted), (name, value_of(page, name), wanted)


def hidden_dependants(page, name: str) -> dict[str, bool]:
    """The fields shown only for some answers to ``name``: key → hidden now."""
    return page.eval_on_selector_all(f'[data-show-if-field="{name}"]',
                                     "ws => Object.fromEntries(ws.map(w => [w.id.replace('champ-', ''), w.hidden]))")


def tab_through_section(page, data: dict[str, str], conditions: dict[str, tuple[bool, bool]]) -> list[str]:
    """Tab through the section, answering each control of ``data`` the focus reaches (a new row first added
    with Enter on « Ajouter une ligne » when the data has more rows than the page), up to « Enregistrer et
    passer à … »; Shift+Tab goes back to « Enregistrer le brouillon », Tab forward again. Returns the names
    reached in order; records in ``conditions`` each conditional field's hidden state before and after the
    answer it depends on."""
    reached: list[str] = []
    for _press in range(250):
        page.keyboard.press("Tab")
        element = focused(page)
        name = element["name"]
        if name in data and name not in reached:
            reached.append(name)
            before = hidden_dependants(page, name)
            if value_of(page, name) != shown_value(element, data[name]):
                answer(page, element, data[name])
            for key, hidden_after in hidden_dependants(page, name).items():
                conditions[key] = (before[key], hidden_after)
        elif element["tag"] == "BUTTON" and element["value"].startswith("add:"):
            rows = element["value"].removeprefix("add:")
            missing = [n for n in data if n.startswith(f"{rows}-") and value_of(page, n) is None]
            if missing:
                with page.expect_navigation():
                    page.keyboard.press("Enter")
                assert value_of(page, missing[0]) == "", f"« Ajouter une ligne » added no row for {missing[0]}"
        elif element["tag"] == "BUTTON" and element["value"] == "next":
            page.keyboard.press("Shift+Tab")
            back = focused(page)
            assert (back["tag"], back["value"], back["text"]) == ("BUTTON", "save", "Enregistrer le brouillon"), back
            page.keyboard.press("Tab")
            assert focused(page)["value"] == "next"
            return reached
    raise AssertionError(f"Tab never reached « Enregistrer et passer à … » on {page.url}; reached: {reached}")


def test_every_section_of_the_pack_ia_form_is_filled_with_the_keyboard_alone(app, journeys, tmp_path):
    with in_db(app) as s:
        seed_demo(s)
    with in_db(app) as s:
        org = org_of(s, APPLICANT)
    tab = journeys.open("clavier")
    page = tab.page
    DATE_ORDER["order"] = date_order(tab.context)

    # log in: the e-mail field has the focus, Tab to the password, Enter submits
    page.goto("/connexion")
    # the browser moves the focus to the autofocus field once the page is rendered, which may come just after
    # the load event: wait for it (a timeout fails the test), then check it
    page.wait_for_function("() => document.activeElement && document.activeElement.name === 'email'", timeout=5000)
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

    # every section of answers, in order, each left with Enter on « Enregistrer et passer à … »
    posts = page_posts(PACK, org)
    assert list(posts) == SECTIONS
    conditions: dict[str, tuple[bool, bool]] = {}
    for section in SECTIONS:
        assert f"/brouillon/{section}" in page.url, (section, page.url)
        journeys.step(tab, f"section {section} au clavier")
        data = posts[section]
        reached = tab_through_section(page, data, conditions)
        hidden = {name for name in data if conditions.get(name, (False, False))[1]}
        assert sorted(set(data) - hidden) == sorted(reached), (section, reached)
        journeys.step(tab, f"section {section} remplie au clavier")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "n'a pas été enregistré" not in page.inner_text("main"), page.eval_on_selector_all(
            "input, select", "es => es.map(e => e.name + '=' + e.value).join(' | ')")

    # the conditional fields: the diagnosis' organisation appeared with « Oui » and was reached; the
    # recruitment's post stayed hidden (the expense is a service) and Tab never went there
    assert conditions["diagnostic_ia_organisme"] == (True, False)
    assert conditions["prestataire_nom"] == (True, False)
    assert conditions["poste_recrute"][1] is True

    # the documents: each file input is reached by Tab, opened with Space, sent with Enter
    assert "/brouillon/pieces" in page.url, page.url
    journeys.step(tab, "pieces au clavier")
    # the browser's file dialog, as the test sees it: listened to from now on (so the interception is in place
    # before the first key press opens one)
    choosers: list = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.wait_for_timeout(200)
    sent: list[str] = []
    keys = file_keys(PACK)
    for _press in range(300):
        page.keyboard.press("Tab")
        element = focused(page)
        key = element["id"].removeprefix("piece-")
        if element["type"] == "file" and key in keys and key not in sent:
            content, filename = document_for(key)
            path = tmp_path / filename
            path.write_bytes(content)
            opened = len(choosers)
            page.keyboard.press("Space")
            for _wait in range(50):
                if len(choosers) > opened:
                    break
                page.wait_for_timeout(100)
            assert len(choosers) > opened, f"Space did not open the file input {element['id']}"
            choosers[-1].set_files(str(path))
            page.keyboard.press("Tab")
            button = focused(page)
            assert (button["tag"], button["text"]) == ("BUTTON", "Envoyer le fichier"), button
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert f"« {filename} » est enregistré" in page.inner_text("body"), page.inner_text("main")[:800]
            sent.append(key)
        elif element["tag"] == "A" and element["text"] == "Voir le récapitulatif":
            assert sorted(sent) == sorted(keys), sent
            journeys.step(tab, "pieces envoyees au clavier")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            break
    else:
        raise AssertionError(f"Tab never reached « Voir le récapitulatif »; files sent: {sent}")

    # the completeness check, and the button that deposits the file within reach of Tab
    assert page.url.endswith(f"/espace/dossiers/{reference}/brouillon"), page.url
    assert "Le dossier est complet : vous pouvez le déposer." in page.inner_text("main")
    journeys.step(tab, "recapitulatif complet au clavier")
    for _press in range(150):
        page.keyboard.press("Tab")
        element = focused(page)
        if element["tag"] == "BUTTON" and element["text"] == "Déposer le dossier":
            break
    else:
        raise AssertionError("Tab never reached « Déposer le dossier »")

    expected = answers_for(PACK, org)
    with in_db(app) as s:
        application = s.execute(select(Application).where(Application.reference == reference)).scalar_one()
        answers = dict(application.answers)
        documents = set(s.execute(select(Attachment.field_key).where(Attachment.application_id == application.id))
                        .scalars())
    assert {k: v for k, v in answers.items() if k in expected} == expected
    assert "poste_recrute" not in answers
    assert documents == set(keys)
