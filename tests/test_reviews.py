"""Reviews (independence, submission, reopening), the ranking of a call and its
API, the instruction report (eligible expenses, aid, proposal, PDF), and the
demo data of the AMI « Économie Numérique »."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import delete, func, select

from app.callforms import builtin_definition
from app.errors import UserFacingError
from app.models import Application, AuditEntry, Call, ConflictDeclaration, ExpertInvitation, Plan, Review, User
from app.operations import reviews as ops
from app.operations.drafts import publish_form
from app.operations.transitions import AppFileContext
from tests.factories import TEST_PASSWORD, clear_reviewers, login, make_application, make_call, make_organisation, make_user

EURO = 100
GOOD = {"reponse_defi": 7, "innovation": 7, "faisabilite": 7, "equipe": 7, "impact": 7, "strategie": 7, "ethique": 7}


class Setup:
    """An AMI call with a file in instruction, its lead instructor, another
    instructor, two experts, an expert of another call, an applicant and a
    committee member."""

    def __init__(self, session, *, size: str = "small", state: str = "instruction", max_aid_cents: int | None = 300_000 * EURO):
        self.session = session
        self.call = make_call(session, workflow="ami_numerique", budget_cents=1_000_000 * EURO, max_aid_cents=max_aid_cents)
        self.form = publish_form(session, self.call, builtin_definition("ami_numerique"), actor=None)
        self.applicant = make_user(session, "applicant")
        self.org = make_organisation(session, self.applicant)
        self.org.size_category = size
        self.file = self.new_file(state=state)
        self.lead = make_user(session, ("instructor", self.call.id), name="Lead")
        self.instructor = make_user(session, ("instructor", self.call.id), name="Autre instructeur")
        self.file.assigned_instructor_id = self.lead.id
        self.e1 = make_user(session, ("expert", self.call.id), name="Experte Une")
        self.e2 = make_user(session, ("expert", self.call.id), name="Expert Deux")
        other_call = make_call(session, workflow="ami_numerique")
        self.outsider = make_user(session, ("expert", other_call.id), name="Expert ailleurs")
        self.committee = make_user(session, ("committee", self.call.id))
        self.finance = make_user(session, ("finance", None))
        self.clear(self.file)
        session.commit()

    def clear(self, application: Application) -> None:
        """The call's instructors and both experts are cleared to score ``application``."""
        clear_reviewers(self.session, application, self.lead, self.instructor, self.e1, self.e2, invited_by=self.lead)

    def new_file(self, *, state: str = "instruction", amount: int = 100_000 * EURO, title: str = "Projet test") -> Application:
        application = make_application(self.session, self.call, self.org, state=state, amount_cents=amount, title=title)
        application.form_version_id = self.form.id
        application.answers = {"depenses": [
            {"categorie": "personnel", "description": "Ingénieurs (2 ETP)", "montant_ht": 200_000 * EURO},
            {"categorie": "equipement", "description": "Serveur GPU", "montant_ht": 60_000 * EURO},
            {"categorie": "autre", "description": "Voyages d'agrément", "montant_ht": 40_000 * EURO},
        ]}
        self.session.flush()
        if hasattr(self, "e2"):
            self.clear(application)
        return application

    def submit(self, reviewer: User, application: Application | None = None, opinion: str = "Avis favorable.", **scores) -> Review:
        review = ops.save_review(self.session, application or self.file, reviewer, scores={**GOOD, **scores},
                                 comments={}, opinion=opinion, submit=True)
        self.session.commit()
        return review


@pytest.fixture
def s(session) -> Setup:
    return Setup(session)


# --- reviews -----------------------------------------------------------------------------------------


def test_a_draft_is_saved_partial_and_submitted_complete_then_counts_for_the_guard(s):
    review = ops.save_review(s.session, s.file, s.e1, scores={"reponse_defi": "8"}, comments={}, opinion="")
    s.session.commit()
    assert (review.status, review.scores, review.reviewer_role) == ("draft", {"reponse_defi": 8}, "expert")
    assert AppFileContext(s.session, s.file).submitted_review_count() == 0
    with pytest.raises(ops.ReviewInvalid) as exc:
        ops.save_review(s.session, s.file, s.e1, scores={"reponse_defi": "8"}, comments={}, opinion="Bien", submit=True)
    s.session.rollback()
    assert "innovation" in exc.value.errors and "Note manquante" in exc.value.errors["innovation"][0]
    with pytest.raises(ops.ReviewInvalid) as exc:
        ops.save_review(s.session, s.file, s.e1, scores=GOOD, comments={}, opinion="  ", submit=True)
    s.session.rollback()
    assert "opinion" in exc.value.errors
    s.submit(s.e1)
    assert AppFileContext(s.session, s.file).submitted_review_count() == 1
    s.submit(s.e2)
    assert AppFileContext(s.session, s.file).submitted_review_count() == 2
    with pytest.raises(UserFacingError, match="déjà transmis"):
        ops.save_review(s.session, s.file, s.e1, scores=GOOD, comments={}, opinion="Autre", submit=True)
    s.session.rollback()
    actions = s.session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "review")).scalars().all()
    assert actions.count("submit_review") == 2 and "save_review_draft" in actions


def test_scores_are_checked_against_the_grid(s):
    with pytest.raises(ops.ReviewInvalid) as exc:
        ops.save_review(s.session, s.file, s.e1, scores={"reponse_defi": "11", "innovation": "x"}, comments={})
    s.session.rollback()
    assert set(exc.value.errors) == {"innovation"}  # the non-integer stops the check
    with pytest.raises(ops.ReviewInvalid) as exc:
        ops.save_review(s.session, s.file, s.e1, scores={"reponse_defi": "11"}, comments={})
    s.session.rollback()
    assert "entre 0 et 10" in exc.value.errors["reponse_defi"][0]
    # Below the threshold (5 for « Réponse au défi ») a comment is required to submit.
    with pytest.raises(ops.ReviewInvalid) as exc:
        ops.save_review(s.session, s.file, s.e1, scores={**GOOD, "reponse_defi": 4}, comments={}, opinion="Réservé", submit=True)
    s.session.rollback()
    assert "commentaire est obligatoire" in exc.value.errors["reponse_defi"][0]
    review = ops.save_review(s.session, s.file, s.e1, scores={**GOOD, "reponse_defi": 4},
                             comments={"reponse_defi": "Le défi n'est traité qu'en partie."}, opinion="Réservé", submit=True)
    assert review.comments == {"reponse_defi": "Le défi n'est traité qu'en partie."}


def test_only_experts_and_instructors_of_the_call_score_and_only_in_instruction(s):
    for user in (s.applicant, s.outsider, s.committee, s.finance):
        with pytest.raises(UserFacingError) as exc:
            ops.save_review(s.session, s.file, user, scores=GOOD, comments={})
        s.session.rollback()
        assert exc.value.status == 403
    assert ops.save_review(s.session, s.file, s.instructor, scores=GOOD, comments={}).reviewer_role == "instructor"
    s.session.rollback()
    at_committee = s.new_file(state="committee")
    with pytest.raises(UserFacingError) as exc:
        ops.save_review(s.session, at_committee, s.e1, scores=GOOD, comments={})
    assert exc.value.status == 409


def test_reviews_stay_hidden_until_the_viewer_has_submitted_theirs(s):
    ops.save_review(s.session, s.file, s.e1, scores={"reponse_defi": 5}, comments={}, opinion="brouillon secret")
    s.session.commit()

    def seen(user):
        return {r.reviewer_id for r in ops.visible_reviews(s.session, s.file, user)}

    assert seen(s.e1) == {s.e1.id}
    assert seen(s.e2) == set() and seen(s.lead) == set()  # nobody reads a draft but its author
    s.submit(s.e1)
    assert seen(s.e2) == set()  # e2 has not submitted
    ops.save_review(s.session, s.file, s.e2, scores={"innovation": 6}, comments={}, opinion="mon brouillon")
    s.session.commit()
    assert seen(s.e2) == {s.e2.id}
    assert seen(s.lead) == {s.e1.id}  # the lead sees every submitted review, no draft
    assert seen(s.instructor) == set()  # another instructor is a reviewer like the others
    assert seen(s.e1) == {s.e1.id}  # e2's draft stays hidden from e1
    s.submit(s.e2)
    assert seen(s.e2) == {s.e1.id, s.e2.id} and seen(s.e1) == {s.e1.id, s.e2.id}


def test_review_pages_hide_drafts_and_unsubmitted_reviews(app, s, client):
    ops.save_review(s.session, s.file, s.e1, scores=GOOD, comments={}, opinion="Brouillon confidentiel de l'experte")
    s.session.commit()
    reference = s.file.reference
    url = f"/instruction/dossiers/{reference}/avis"
    assert login(client, s.e2.email, TEST_PASSWORD).status_code == 302
    page = client.get(url)
    assert page.status_code == 200
    assert "Brouillon confidentiel" not in page.get_data(as_text=True)
    response = client.post(url, data={**{f"score-{k}": str(v) for k, v in GOOD.items()}, "opinion": "Très bon dossier",
                                      "action": "submit"})
    assert response.status_code == 302
    # e1's review is still a draft: e2 sees nothing of it even after submitting.
    assert "Brouillon confidentiel" not in client.get(url).get_data(as_text=True)
    client = app.test_client()
    assert login(client, s.e1.email, TEST_PASSWORD).status_code == 302
    assert "Très bon dossier" not in client.get(url).get_data(as_text=True)  # e1 has not submitted yet
    response = client.post(url, data={**{f"score-{k}": str(v) for k, v in GOOD.items()}, "opinion": "Finalement bon",
                                      "action": "submit"})
    assert response.status_code == 302
    assert "Très bon dossier" in client.get(url).get_data(as_text=True)


def test_review_form_shows_errors_and_keeps_nothing(app, s, client):
    assert login(client, s.e1.email, TEST_PASSWORD).status_code == 302
    response = client.post(f"/instruction/dossiers/{s.file.reference}/avis",
                           data={"score-reponse_defi": "3", "opinion": "x", "action": "submit"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "commentaire est obligatoire" in text and "Note manquante" in text
    assert s.session.execute(select(func.count(Review.id))).scalar_one() == 0


def test_an_expert_scores_only_invited_files_and_after_declaring(app, s, client):
    """An expert of the call needs an active invitation on the file, then a
    declaration of no conflict of interest, before opening its review form."""
    uninvited = s.new_file(title="Projet sans invitation")
    s.session.execute(delete(ExpertInvitation).where(ExpertInvitation.application_id == uninvited.id))
    s.session.execute(delete(ConflictDeclaration).where(ConflictDeclaration.application_id == uninvited.id))
    s.session.commit()
    with pytest.raises(UserFacingError) as exc:
        ops.save_review(s.session, uninvited, s.e1, scores=GOOD, comments={})
    s.session.rollback()
    assert exc.value.status == 403
    assert login(client, s.e1.email, TEST_PASSWORD).status_code == 302
    url = f"/instruction/dossiers/{uninvited.reference}/avis"
    assert client.get(url).status_code == 403
    s.session.add(ExpertInvitation(application_id=uninvited.id, expert_id=s.e1.id, invited_by_id=s.lead.id,
                                   due_on=date(2030, 1, 1)))
    s.session.commit()
    response = client.get(url)  # invited, not yet declared: sent to the declaration
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/expertise/{uninvited.reference}/declaration")
    assert client.post(url, data={"action": "save"}).status_code == 403
    with pytest.raises(UserFacingError):
        ops.save_review(s.session, uninvited, s.e1, scores=GOOD, comments={})
    s.session.rollback()
    s.session.add(ConflictDeclaration(application_id=uninvited.id, user_id=s.e1.id, role="expert", has_conflict=True,
                                      link="Ancien salarié de l'entreprise"))
    s.session.commit()
    assert client.get(url).status_code == 403  # conflicted: never opens the file
    assert s.session.execute(select(func.count(Review.id))).scalar_one() == 0


@pytest.mark.parametrize("who", ["applicant", "outsider", "committee", "finance"])
def test_review_pages_refuse_who_does_not_score_the_call(app, s, client, who):
    user = getattr(s, who)
    reference = s.file.reference
    assert login(client, user.email, TEST_PASSWORD).status_code == 302
    assert client.get(f"/instruction/dossiers/{reference}/avis").status_code == 403
    assert client.post(f"/instruction/dossiers/{reference}/avis", data={"action": "save"}).status_code == 403
    assert client.get(f"/instruction/dossiers/{reference}/rapport").status_code == 403


def test_reopening_is_for_the_lead_instructor_with_a_reason_and_audited(app, s, client):
    review = s.submit(s.e1)
    for user in (s.instructor, s.e1, s.e2):
        with pytest.raises(UserFacingError) as exc:
            ops.reopen_review(s.session, review, user, "motif")
        s.session.rollback()
        assert exc.value.status == 403
    with pytest.raises(UserFacingError, match="pourquoi"):
        ops.reopen_review(s.session, review, s.lead, "  ")
    s.session.rollback()
    url = f"/instruction/dossiers/{s.file.reference}/avis/{review.id}/rouvrir"
    assert login(client, s.instructor.email, TEST_PASSWORD).status_code == 302
    assert client.post(url, data={"reason": "je veux voir"}).status_code == 403
    client = app.test_client()
    assert login(client, s.lead.email, TEST_PASSWORD).status_code == 302
    assert client.post(url, data={"reason": "Note d'éthique incohérente avec le commentaire"}).status_code == 302
    s.session.expire_all()
    review = s.session.get(Review, review.id)
    assert (review.status, review.submitted_at, review.reopen_count) == ("draft", None, 1)
    row = s.session.execute(select(AuditEntry).where(AuditEntry.action == "reopen_review")).scalar_one()
    assert row.actor_id == s.lead.id and row.reason.startswith("Note d'éthique")
    # The expert can now change it and submit it again.
    s.submit(s.e1, opinion="Avis révisé")
    assert s.session.get(Review, review.id).status == "submitted"


def test_an_administrator_is_lead_and_anybody_instructing_leads_an_unassigned_file(s):
    admin = make_user(s.session, "admin")
    assert ops.is_lead(admin, s.file) and ops.is_lead(s.lead, s.file) and not ops.is_lead(s.instructor, s.file)
    s.file.assigned_instructor_id = None
    assert ops.is_lead(s.instructor, s.file) and not ops.is_lead(s.e1, s.file)


# --- ranking -------------------------------------------------------------------------------------------


def _ranked(s: Setup):
    """Three files: A and B equal on the total but A better on « Réponse au
    défi » (the call's first tie-breaker), C lower; 400 000 € each."""
    a = s.new_file(amount=400_000 * EURO, title="A")
    b = s.new_file(amount=400_000 * EURO, title="B")
    c = s.new_file(amount=400_000 * EURO, title="C")
    s.file.state = "eligibility_check"  # not ranked
    s.session.commit()
    for expert in (s.e1, s.e2):
        s.submit(expert, b, reponse_defi=6, innovation=8)
        s.submit(expert, a, reponse_defi=8, innovation=6)
        s.submit(expert, c, reponse_defi=6, innovation=6)
    return a, b, c


def test_ranking_breaks_ties_by_the_calls_ordered_criteria_and_draws_the_funding_line(s):
    a, b, c = _ranked(s)
    ranking = ops.call_ranking(s.session, s.call)
    assert ranking.budget_available_cents == 1_000_000 * EURO  # no ledger account yet: the call's budget
    rows = [(l.application.title, l.item.rank, str(l.item.score), l.item.funded, l.item.reserve_position) for l in ranking.lines]
    total = str(ops.scoring.review_total(ranking.grid, {**GOOD, "reponse_defi": 8, "innovation": 6}))
    assert rows == [("A", 1, total, True, None), ("B", 2, total, True, None), ("C", 3, rows[2][2], False, 1)]
    assert not ranking.lines[0].item.tied  # A and B differ on the first tie-breaker


def test_ranking_budget_comes_from_the_calls_ledger_account(s):
    from app.ledger import ensure_accounts, reserve

    a, b, c = _ranked(s)
    plan = s.session.execute(select(Plan)).scalars().first()
    ensure_accounts(s.session, plan)
    approved = s.new_file(state="approved", amount=300_000 * EURO, title="Déjà lauréat")
    s.session.flush()
    ensure_accounts(s.session, plan)
    reserve(s.session, approved, 300_000 * EURO, year=date.today().year, idempotency_key="t:approved", actor=None,
            regime="gber:25")
    # A file at committee holds a reservation too: it is ranked and its reservation counted back.
    c.state = "committee"
    reserve(s.session, c, 100_000 * EURO, year=date.today().year, idempotency_key="t:c", actor=None, regime="gber:25")
    s.session.commit()
    ranking = ops.call_ranking(s.session, s.call)
    assert ranking.budget_available_cents == (1_000_000 - 300_000) * EURO
    assert [(l.application.title, l.item.funded) for l in ranking.lines] == [("A", True), ("B", False), ("C", False)]
    assert [l.item.reserve_position for l in ranking.lines] == [None, 1, 2]


def test_the_proposed_amount_replaces_the_request_in_the_ranking(s):
    a, b, c = _ranked(s)
    b.proposed_amount_cents = 100_000 * EURO
    s.session.commit()
    items = {l.application.title: l.item for l in ops.call_ranking(s.session, s.call).lines}
    assert items["B"].proposed_amount_cents == 100_000 * EURO
    assert [items[t].funded for t in "ABC"] == [True, True, True]


def test_ranking_page_for_instructors_only(app, s, client):
    _ranked(s)
    url = f"/instruction/appels/{s.call.reference}/classement"
    assert login(client, s.instructor.email, TEST_PASSWORD).status_code == 302
    page = client.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "liste d&#39;attente n° 1" in text or "liste d'attente n° 1" in text
    client = app.test_client()
    for user in (s.committee, s.e1, s.applicant):
        assert login(client, user.email, TEST_PASSWORD).status_code == 302
        assert client.get(url).status_code == 403
        client = app.test_client()


def _token(client, user: User) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": user.email, "password": TEST_PASSWORD, "scopes": ["read"]})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_ranking_api_for_staff_only(app, s, client):
    a, b, c = _ranked(s)
    url = f"/api/v1/calls/{s.call.reference}/ranking"
    for user in (s.instructor, s.finance):
        response = client.get(url, headers=_token(client, user))
        assert response.status_code == 200
        body = response.get_json()
        assert body["budget_available_cents"] == 1_000_000 * EURO
        assert [(i["reference"], i["rank"], i["funded"], i["proposed_amount_cents"]) for i in body["items"]] == [
            (a.reference, 1, True, 400_000 * EURO), (b.reference, 2, True, 400_000 * EURO),
            (c.reference, 3, False, 400_000 * EURO)]
        assert body["items"][0]["score"] == str(ops.call_ranking(s.session, s.call).lines[0].item.score)
    for user in (s.applicant, s.committee, s.e1, s.outsider):
        response = client.get(url, headers=_token(client, user))
        assert response.status_code == 403, user
        assert "error" in response.get_json()
    assert client.get("/api/v1/calls/NOPE/ranking", headers=_token(client, s.instructor)).status_code == 404
    assert client.get(url).status_code == 401


# --- instruction report ---------------------------------------------------------------------------------


def test_expenses_line_by_line_and_the_aid_computed_for_a_small_company(s):
    lines = ops.expense_lines(s.file, None)
    assert [(l.decision, l.eligible_cents) for l in lines] == [("accepted", 200_000 * EURO), ("accepted", 60_000 * EURO),
                                                              ("accepted", 40_000 * EURO)]
    with pytest.raises(UserFacingError) as exc:
        ops.save_report(s.session, s.file, s.lead, decisions={1: ("reduced", 70_000 * EURO, "Plafond"), 2: ("refused", None, "")})
    s.session.rollback()
    assert "Ligne 2" in exc.value.message and "Ligne 3" in exc.value.message
    report = ops.save_report(s.session, s.file, s.lead, opinion="Projet solide.", decisions={
        1: ("reduced", 45_000 * EURO, "Serveur surdimensionné : 45 000 € retenus"),
        2: ("refused", None, "Dépense sans lien avec le projet")})
    s.session.commit()
    lines = ops.expense_lines(s.file, report)
    assert [(l.decision, l.eligible_cents) for l in lines] == [("accepted", 200_000 * EURO), ("reduced", 45_000 * EURO),
                                                              ("refused", 0)]
    aid = ops.compute_aid(s.file, report)
    # industrial research (the AMI's grid), small company: 50 + 20 = 70 % of 245 000 € = 171 500 €
    assert (aid.eligible_cents, aid.rate_percent, aid.computed_cents, aid.capped) == (245_000 * EURO, 70, 171_500 * EURO, False)
    row = s.session.execute(select(AuditEntry).where(AuditEntry.action == "save_instruction_report")).scalar_one()
    assert row.after["computed_aid_cents"] == 171_500 * EURO


@pytest.mark.parametrize(("size", "rate", "expected_euros"), [
    ("micro", 70, 210_000), ("small", 70, 210_000), ("medium", 60, 180_000), ("large", 50, 150_000)])
def test_aid_rate_follows_the_company_size(session, size, rate, expected_euros):
    s = Setup(session, size=size)
    aid = ops.compute_aid(s.file, None)
    assert (aid.rate_percent, aid.computed_cents) == (rate, expected_euros * EURO)


def test_aid_is_capped_by_the_calls_maximum_and_needs_a_known_size(session):
    s = Setup(session, size="small", max_aid_cents=150_000 * EURO)
    aid = ops.compute_aid(s.file, None)
    assert (aid.computed_cents, aid.capped) == (150_000 * EURO, True)
    s.org.size_category = None
    aid = ops.compute_aid(s.file, None)
    assert aid.computed_cents is None and "taille" in aid.problem


def test_the_proposal_is_at_most_the_aid_computed_and_audited(s):
    with pytest.raises(UserFacingError, match="dépasse"):
        ops.propose_amount(s.session, s.file, s.lead, 210_000 * EURO + 1)
    s.session.rollback()
    with pytest.raises(UserFacingError) as exc:
        ops.propose_amount(s.session, s.file, s.instructor, 100_000 * EURO)
    s.session.rollback()
    assert exc.value.status == 403
    ops.propose_amount(s.session, s.file, s.lead, 200_000 * EURO, "Aide arrondie")
    s.session.commit()
    assert s.session.get(Application, s.file.id).proposed_amount_cents == 200_000 * EURO
    row = s.session.execute(select(AuditEntry).where(AuditEntry.action == "propose_amount")).scalar_one()
    assert row.before == {"proposed_amount_cents": None} and row.reason == "Aide arrondie"


def test_report_page_proposal_and_pdf(app, s, client):
    from app.operations.eligibility import run_eligibility

    results = run_eligibility(s.session, s.file)  # the AMI's checks: some pass, the missing documents fail
    s.session.commit()
    assert {"pass", "fail"} <= {r.outcome for r in results}
    s.submit(s.e1, opinion="Avis de l'experte : très favorable", reponse_defi=9, impact=8)
    s.submit(s.e2, opinion="Avis réservé", reponse_defi=5, innovation=6)
    reference = s.file.reference
    assert login(client, s.lead.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/instruction/dossiers/{reference}/rapport")
    assert page.status_code == 200
    assert "Avis de l&#39;experte" in page.get_data(as_text=True) or "Avis de l'experte" in page.get_data(as_text=True)
    response = client.post(f"/instruction/dossiers/{reference}/rapport", data={
        "decision-0": "accepted", "decision-1": "reduced", "eligible-1": "45 000,00", "reason-1": "Serveur surdimensionné",
        "decision-2": "refused", "reason-2": "Hors projet", "opinion": "Projet solide, proposition favorable."})
    assert response.status_code == 302
    response = client.post(f"/instruction/dossiers/{reference}/rapport/proposition", data={"amount": "171 500,00"})
    assert response.status_code == 302
    s.session.expire_all()
    assert s.session.get(Application, s.file.id).proposed_amount_cents == 171_500 * EURO
    assert client.post(f"/instruction/dossiers/{reference}/rapport/proposition", data={"amount": "171 500,01"}).status_code == 302
    s.session.expire_all()
    assert s.session.get(Application, s.file.id).proposed_amount_cents == 171_500 * EURO  # refused, unchanged
    assert client.get(f"/instruction/dossiers/{reference}/rapport.pdf").status_code == 404
    assert client.post(f"/instruction/dossiers/{reference}/rapport.pdf").status_code == 302
    pdf = client.get(f"/instruction/dossiers/{reference}/rapport.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    from pypdf import PdfReader

    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).split())
    for expected in ("Rapport d'instruction", reference, "Serveur surdimensionné", "réduite", "refusée",
                     "Recherche industrielle", "70 %", "Projet solide", "très favorable"):
        assert expected in text, expected
    # The eligibility results, read back: every check of the run with its outcome.
    outcome_label = {"pass": "conforme", "fail": "non conforme", "review": "à examiner"}
    for result in results:
        assert f"{result.check_name} {outcome_label[result.outcome]}" in text, result.check_name
    # The scores: the aggregate over the two reviews, each criterion's, each reviewer's total.
    from app.formatting import number

    grid = ops.grid_for(s.call)
    score = ops.file_score(s.session, s.file)
    assert score.n_reviews == 2 and score.score == ops.scoring.round2((ops.scoring.review_total(
        grid, {**GOOD, "reponse_defi": 9, "impact": 8}) + ops.scoring.review_total(
        grid, {**GOOD, "reponse_defi": 5, "innovation": 6})) / 2)
    with app.test_request_context():
        assert f"Note agrégée : {number(score.score, 'fr')} / 20 (2 avis" in text
        for code, label, value in (("reponse_defi", "Réponse au défi posé", "7"), ("innovation", "Caractère innovant", "6,5"),
                                   ("impact", "Impact économique et emploi", "7,5"), ("ethique", "Éthique et transparence de l'IA", "7")):
            assert number(score.criteria[code], "fr") == value
            assert f"{label} {number(grid.criterion(code).weight, 'fr')} {value}" in text, label
        for review in s.session.execute(select(Review).where(Review.application_id == s.file.id)).scalars():
            assert f"{review.reviewer.name} (expert) — {number(ops.scoring.review_total(grid, review.scores), 'fr')} / 20" in text
    # The file page links to the review, the report and the ranking.
    detail = client.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
    assert f"/instruction/dossiers/{reference}/rapport" in detail and f"/appels/{s.call.reference}/classement" in detail


# --- demo ---------------------------------------------------------------------------------------------------


def test_demo_ami_has_a_ranking_with_a_funding_line(demo, session):
    call = session.execute(select(Call).where(Call.reference == "AMI-ECONUM-2026")).scalar_one()
    reviewers = session.execute(
        select(Review.application_id, func.count(func.distinct(Review.reviewer_id)))
        .join(Application, Application.id == Review.application_id)
        .where(Application.call_id == call.id, Application.state == "instruction", Review.status == "submitted")
        .group_by(Review.application_id)
    ).all()
    assert len([n for _id, n in reviewers if n >= 2]) >= 6
    ranking = ops.call_ranking(session, call)
    funded = [l for l in ranking.lines if l.item.funded]
    reserve = [l for l in ranking.lines if l.item.reserve_position]
    assert funded and reserve and any(l.item.eliminated for l in ranking.lines)
    assert any(l.score.disagreement for l in ranking.lines)
    # The demo expert still has a draft to finish.
    expert = session.execute(select(User).where(User.email == "demo-expert@guichet.test")).scalar_one()
    statuses = session.execute(select(Review.status).where(Review.reviewer_id == expert.id)).scalars().all()
    assert statuses.count("draft") == 1 and statuses.count("submitted") >= 6


def test_demo_pages_render_for_the_demo_instructor_and_expert(app, demo, session):
    from tests.journey import logged_in

    call = session.execute(select(Call).where(Call.reference == "AMI-ECONUM-2026")).scalar_one()
    committee_file = session.execute(  # the one scored by the demo (the committee's demo adds others)
        select(Application.reference).join(Review, Review.application_id == Application.id)
        .where(Application.call_id == call.id, Application.state == "committee").limit(1)).scalar_one()
    draft_file = session.execute(
        select(Application.reference).join(Review, Review.application_id == Application.id)
        .where(Review.status == "draft")).scalar_one()
    session.rollback()
    instructor = logged_in(app, "demo-instructor@guichet.test")
    ranking = instructor.get("/instruction/appels/AMI-ECONUM-2026/classement")
    assert ranking.status_code == 200 and "financé" in ranking.get_data(as_text=True)
    report = instructor.get(f"/instruction/dossiers/{committee_file}/rapport")
    assert report.status_code == 200
    assert "Enregistrer le rapport" not in report.get_data(as_text=True)  # read-only once at committee
    expert = logged_in(app, "demo-expert@guichet.test")
    assert draft_file in expert.get("/instruction/avis").get_data(as_text=True)
    page = expert.get(f"/instruction/dossiers/{draft_file}/avis")
    assert page.status_code == 200
    assert "restent masqués" in page.get_data(as_text=True)
    assert "/instruction/avis" in expert.get("/instruction/expertise").get_data(as_text=True)


def test_propose_to_committee_needs_two_submitted_reviews_and_the_proposal(s):
    from app.operations.transitions import TransitionRefused, transition

    s.submit(s.e1)
    ops.save_review(s.session, s.file, s.e2, scores=GOOD, comments={}, opinion="brouillon")
    ops.propose_amount(s.session, s.file, s.lead, 150_000 * EURO)
    s.session.commit()
    with pytest.raises(TransitionRefused):  # one submitted review, one draft
        transition(s.session, s.file, "propose_to_committee", actor=s.lead, role="instructor")
    s.session.rollback()
    s.session.expire_all()
    ops.save_review(s.session, s.file, s.e2, scores=GOOD, comments={}, opinion="Favorable", submit=True)
    s.session.commit()
    transition(s.session, s.file, "propose_to_committee", actor=s.lead, role="instructor")
    s.session.commit()
    assert s.file.state == "committee"
    # Once at committee the reviews are frozen and the file stays in the ranking.
    with pytest.raises(UserFacingError):
        ops.reopen_review(s.session, ops.review_of(s.session, s.file, s.e1), s.lead, "trop tard")
    s.session.rollback()
    assert [l.application.id for l in ops.call_ranking(s.session, s.call).lines] == [s.file.id]


# --- a grid per call (not per workflow), one aid regime per call ----------------------------------------

PACK = {"innovation": 4, "impact": 4, "faisabilite": 4, "equipe": 4, "strategie": 4, "ethique": 4}


def _pack_grid_call(s: Setup, admin: User) -> Call:
    """A second call on the AMI's workflow, given the Pack IA grid (mean, z-score,
    ties broken by impact then feasibility) and the de minimis regime by its administrator."""
    from app.operations.state_aid import set_aid_regime

    from app.models import RoleAssignment

    call = make_call(s.session, workflow="ami_numerique", budget_cents=1_000_000 * EURO, max_aid_cents=300_000 * EURO)
    publish_form(s.session, call, builtin_definition("ami_numerique"), actor=None)
    set_aid_regime(s.session, call, "de_minimis", actor=admin, grid_name="pack_ia")
    for user, role in ((s.lead, "instructor"), (s.instructor, "instructor"), (s.e1, "expert"), (s.e2, "expert")):
        user.roles.append(RoleAssignment(role=role, call_id=call.id))
    s.session.commit()
    return call


def _file_in(s: Setup, call: Call, title: str) -> Application:
    from app.models import FormVersion

    application = make_application(s.session, call, s.org, state="instruction", amount_cents=100_000 * EURO, title=title)
    application.form_version_id = s.session.execute(select(FormVersion.id).where(FormVersion.call_id == call.id)).scalar_one()
    application.answers = {"depenses": [{"categorie": "personnel", "description": "Ingénieurs", "montant_ht": 300_000 * EURO}]}
    s.session.flush()
    s.clear(application)
    s.session.commit()
    return application


def _review(s: Setup, application: Application, reviewer: User, scores: dict, comments: dict | None = None) -> None:
    ops.save_review(s.session, application, reviewer, scores=scores, comments=comments or {}, opinion="Avis.", submit=True)
    s.session.commit()


def test_two_calls_on_one_workflow_score_and_rank_with_their_own_grids(s):
    admin = make_user(s.session, "admin")
    pack_call = _pack_grid_call(s, admin)
    assert (s.call.workflow_name, pack_call.workflow_name) == ("ami_numerique", "ami_numerique")
    assert (ops.grid_for(s.call).name, ops.grid_for(pack_call).name) == ("ami_numerique", "pack_ia")
    # The same three reviewers give a high, a middle and a low mark in each call.
    ami_file = s.file
    pack_file = _file_in(s, pack_call, "P")
    for reviewer, mark in ((s.e1, 10), (s.e2, 8), (s.instructor, 4)):
        _review(s, ami_file, reviewer, dict.fromkeys(GOOD, mark), {"reponse_defi": "Faible", "ethique": "Faible"})
    for reviewer, mark in ((s.e1, 5), (s.e2, 4), (s.instructor, 2)):
        _review(s, pack_file, reviewer, dict.fromkeys(PACK, mark), {"ethique": "Faible"})
    # A review is checked against its call's grid: the Pack IA scale stops at 5, its criteria differ.
    with pytest.raises(ops.ReviewInvalid) as exc:
        ops.save_review(s.session, pack_file, s.lead, scores={"innovation": "8"}, comments={})
    s.session.rollback()
    assert "entre 0 et 5" in exc.value.errors["innovation"][0]
    assert {r.grid_name for r in s.session.execute(select(Review).where(Review.application_id == pack_file.id)).scalars()} == {"pack_ia"}
    # The AMI's trimmed mean keeps the middle mark (16); the Pack IA grid's plain mean averages all three (44 / 3).
    ami_line = ops.call_ranking(s.session, s.call).lines[0]
    pack_ranking = ops.call_ranking(s.session, pack_call)
    assert (ami_line.application.id, str(ami_line.item.score)) == (ami_file.id, "16.00")
    assert pack_ranking.grid.aggregation.name == "mean" and pack_ranking.grid.normalisation.name == "zscore"
    assert [(l.application.id, str(l.item.score)) for l in pack_ranking.lines] == [(pack_file.id, "14.67")]
    # Ties are broken by the call's own criteria: on the Pack IA grid impact, then feasibility (the AMI breaks
    # them by « réponse au défi » then innovation).
    x, y = _file_in(s, pack_call, "X"), _file_in(s, pack_call, "Y")
    _review(s, x, s.lead, {**PACK, "innovation": 3, "faisabilite": 5})
    _review(s, y, s.lead, {**PACK, "innovation": 5, "faisabilite": 3})
    lines = ops.call_ranking(s.session, pack_call).lines
    tied = [l for l in lines if l.application.id in (x.id, y.id)]
    assert [l.application.title for l in tied] == ["X", "Y"] and tied[0].item.score == tied[1].item.score
    assert ops.grid_for(pack_call).tie_breakers[:2] == ("impact", "faisabilite")


def test_the_admin_chooses_a_calls_grid_with_its_regime_and_they_must_agree(app, s, client):
    from app.operations.state_aid import set_aid_regime

    admin = make_user(s.session, "admin")
    s.session.commit()
    ref = s.call.reference
    assert login(client, admin.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/admin/appels/{ref}/regime-aide")
    assert page.status_code == 200 and 'value="pack_ia"' in page.get_data(as_text=True)
    # The Pack IA grid computes a de minimis aid: refused under the AMI's GBER article 25, nothing written.
    refused = client.post(f"/admin/appels/{ref}/regime-aide", data={"aid_regime": "gber:25", "grid_name": "pack_ia"})
    assert refused.status_code == 422 and "doivent concorder" in refused.get_data(as_text=True)
    # An article that does not cover industrial research is refused too.
    refused = client.post(f"/admin/appels/{ref}/regime-aide", data={"aid_regime": "gber:29", "grid_name": ""})
    assert refused.status_code == 422 and "ne couvre pas" in refused.get_data(as_text=True)
    s.session.expire_all()
    assert (s.call.aid_regime, s.call.grid_name) == ("gber:25", None)
    assert client.post(f"/admin/appels/{ref}/regime-aide",
                       data={"aid_regime": "de_minimis", "grid_name": "pack_ia"}).status_code == 303
    s.session.expire_all()
    assert (s.call.aid_regime, s.call.grid_name, ops.grid_for(s.call).name) == ("de_minimis", "pack_ia", "pack_ia")
    row = s.session.execute(select(AuditEntry).where(AuditEntry.action == "set_aid_regime")).scalar_one()
    assert (row.before, row.after) == ({"aid_regime": "gber:25", "grid_name": "ami_numerique"},
                                       {"aid_regime": "de_minimis", "grid_name": "pack_ia"})
    # Once reviews are written with a grid, the call's grid no longer changes.
    _review(s, s.file, s.e1, PACK)
    with pytest.raises(UserFacingError, match="ne peut plus changer"):
        set_aid_regime(s.session, s.call, "gber:25", actor=admin, grid_name="")
    s.session.rollback()
    with pytest.raises(UserFacingError, match="inconnue"):
        set_aid_regime(s.session, s.call, "de_minimis", actor=admin, grid_name="nope")
    s.session.rollback()


def test_a_regime_that_disagrees_with_the_grid_computes_no_aid_and_refuses_the_proposal(s):
    # The regime is the call's (the one the ledger records); a grid whose instrument it
    # does not cover (e.g. the grid file changed after the regime was set) computes nothing.
    s.call.aid_regime = "de_minimis"
    s.session.commit()
    aid = ops.compute_aid(s.file, None)
    assert (aid.regime, aid.computed_cents, aid.proposable_cents) == ("de_minimis", None, None)
    assert "ne concordent pas" in aid.problem and "Recherche industrielle" in aid.problem
    with pytest.raises(UserFacingError, match="ne concordent pas") as exc:
        ops.propose_amount(s.session, s.file, s.lead, 100_000 * EURO)
    s.session.rollback()
    assert exc.value.status == 422 and s.session.get(Application, s.file.id).proposed_amount_cents is None
    s.call.aid_regime = "gber:25(1)(b)"  # the article's paragraphs do not matter
    s.session.commit()
    assert ops.compute_aid(s.file, None).computed_cents == 210_000 * EURO


# --- de minimis: the undertaking's ceiling limits the proposal ---------------------------------------------


def _de_minimis_file(s: Setup, admin: User, *, declared_cents: int) -> tuple[Call, Application]:
    """A de minimis call (50 % of the eligible costs): its file presents 300 000 € of costs, so 150 000 € of aid."""
    call = _pack_grid_call(s, admin)
    application = _file_in(s, call, "Premier projet IA")
    application.answers = {**application.answers, "aides_de_minimis_3_ans": declared_cents}
    s.session.commit()
    return call, application


def _grant_de_minimis(s: Setup, call: Call, cents: int) -> Application:
    """Another file of the same company, whose de minimis aid is reserved in Guichet's ledger."""
    from app.ledger import ensure_accounts, reserve

    earlier = make_application(s.session, call, s.org, state="approved", amount_cents=cents, title="Aide antérieure")
    ensure_accounts(s.session, s.session.execute(select(Plan)).scalars().first())
    reserve(s.session, earlier, cents, year=date.today().year, idempotency_key=f"t:dm:{earlier.id}", actor=None,
            regime="de_minimis")
    s.session.commit()
    return earlier


def test_de_minimis_aid_already_counted_caps_the_proposal_on_the_report_page(app, s, client):
    from app.formatting import money
    from app.ledger import de_minimis_counted

    admin = make_user(s.session, "admin")
    call, application = _de_minimis_file(s, admin, declared_cents=80_000 * EURO)
    _grant_de_minimis(s, call, 100_000 * EURO)
    assert de_minimis_counted(s.session, s.org.siren) == 100_000 * EURO
    aid = ops.compute_aid(application, None)
    assert (aid.regime, aid.rate_percent, aid.computed_cents) == ("de_minimis", 50, 150_000 * EURO)
    # 300 000 € − 100 000 € counted by Guichet − 80 000 € declared = 120 000 € left under the ceiling.
    assert (aid.de_minimis.counted_cents, aid.de_minimis.declared_cents, aid.de_minimis.room_cents) == (
        100_000 * EURO, 80_000 * EURO, 120_000 * EURO)
    assert aid.crosses_de_minimis and aid.proposable_cents == 120_000 * EURO
    reference = application.reference
    assert login(client, s.lead.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/instruction/dossiers/{reference}/rapport").get_data(as_text=True)
    assert "Plafond de minimis" in page and "pas même en partie" in page and f"au plus {money(120_000 * EURO, 'fr')}" in page
    # The aid computed would cross the ceiling: it cannot be proposed, not even one cent over the room left.
    for amount in ("150 000,00", "120 000,01"):
        response = client.post(f"/instruction/dossiers/{reference}/rapport/proposition", data={"amount": amount},
                               follow_redirects=True)
        assert "plafond de minimis" in response.get_data(as_text=True).lower()
        s.session.expire_all()
        assert s.session.get(Application, application.id).proposed_amount_cents is None
    assert client.post(f"/instruction/dossiers/{reference}/rapport/proposition",
                       data={"amount": "120 000,00"}).status_code == 302
    s.session.expire_all()
    assert s.session.get(Application, application.id).proposed_amount_cents == 120_000 * EURO
    row = s.session.execute(select(AuditEntry).where(AuditEntry.action == "propose_amount")).scalar_one()
    assert row.after["aid_regime"] == "de_minimis" and row.after["de_minimis_counted_cents"] == 100_000 * EURO
    assert row.after["de_minimis_declared_cents"] == 80_000 * EURO
    # The report PDF says it too.
    from pypdf import PdfReader

    assert client.post(f"/instruction/dossiers/{reference}/rapport.pdf").status_code == 302
    pdf = client.get(f"/instruction/dossiers/{reference}/rapport.pdf")
    text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).split())
    for expected in ("Régime d'aide d'État de_minimis", "Aide de minimis",
                     f"Aides de minimis sur 3 ans {money(100_000 * EURO, 'fr')} comptées par Guichet, "
                     f"{money(80_000 * EURO, 'fr')} déclarées",
                     f"Reste sous le plafond de minimis {money(120_000 * EURO, 'fr')}",
                     f"Montant proposé {money(120_000 * EURO, 'fr')}"):
        assert "".join(expected.split()) in text, expected


def test_a_company_at_the_de_minimis_ceiling_gets_no_proposal(app, s, client):
    admin = make_user(s.session, "admin")
    call, application = _de_minimis_file(s, admin, declared_cents=60_000 * EURO)
    _grant_de_minimis(s, call, 240_000 * EURO)
    aid = ops.compute_aid(application, None)
    assert (aid.computed_cents, aid.de_minimis.room_cents, aid.proposable_cents) == (150_000 * EURO, 0, 0)
    assert "Aucune aide de minimis ne peut lui être accordée" in aid.problem
    with pytest.raises(UserFacingError, match="Plafond de minimis atteint"):
        ops.propose_amount(s.session, application, s.lead, 1)
    s.session.rollback()
    assert login(client, s.lead.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/instruction/dossiers/{application.reference}/rapport").get_data(as_text=True)
    assert "Plafond de minimis atteint" in page and 'name="amount"' not in page
    # Without aid counted elsewhere the same file may be proposed the whole aid computed.
    other = make_organisation(s.session, make_user(s.session))
    other.size_category = "small"
    fresh = make_application(s.session, call, other, state="instruction", amount_cents=100_000 * EURO)
    fresh.form_version_id = application.form_version_id
    fresh.answers = dict(application.answers, aides_de_minimis_3_ans=0)
    s.session.commit()
    assert ops.compute_aid(fresh, None).proposable_cents == 150_000 * EURO


# --- the ranking shows nothing a viewer may not see ------------------------------------------------------


def _row_of(html: str, reference: str) -> str:
    import re

    rows = [r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S) if reference in r]
    assert len(rows) == 1, reference
    return rows[0]


def test_ranking_hides_a_file_from_a_conflicted_viewer_on_the_page_and_the_api(app, s, client):
    from app.formatting import money, number

    a, b, c = _ranked(s)
    # Declared conflict on B; on C, an automatic flag: the instructor's e-mail domain is a member's of its organisation.
    s.session.add(ConflictDeclaration(application_id=b.id, user_id=s.instructor.id, role="instructor", has_conflict=True,
                                      link="Ancien associé du dirigeant"))
    s.instructor.email = "charge.mission@conseil-grand-est.fr"
    colleague_org = make_organisation(s.session, make_user(s.session, email="dirigeant@conseil-grand-est.fr"))
    c.organisation_id = colleague_org.id
    s.session.commit()
    full = {l.application.id: l for l in ops.call_ranking(s.session, s.call).lines}
    seen = {l.application.id: l for l in ops.call_ranking(s.session, s.call, viewer=s.instructor).lines}
    assert [seen[i].masked for i in (a.id, b.id, c.id)] == [None, ops.MASK_CONFLICT, ops.MASK_CONFLICT]
    assert [seen[i].item.rank for i in (a.id, b.id, c.id)] == [full[i].item.rank for i in (a.id, b.id, c.id)]
    body = client.get(f"/api/v1/calls/{s.call.reference}/ranking", headers=_token(client, s.instructor)).get_json()
    items = {i["reference"]: i for i in body["items"]}
    assert items[a.reference]["score"] == str(full[a.id].item.score) and items[a.reference]["masked"] is None
    for ref in (b.reference, c.reference):
        assert items[ref]["masked"] == "conflict_of_interest" and items[ref]["rank"] in (2, 3)
        assert all(items[ref][k] is None for k in ("score", "funded", "reserve_position", "n_reviews",
                                                   "proposed_amount_cents", "disagreement", "eliminated", "tied"))
    # Finance, not conflicted, sees every score.
    body = client.get(f"/api/v1/calls/{s.call.reference}/ranking", headers=_token(client, s.finance)).get_json()
    assert [i["masked"] for i in body["items"]] == [None, None, None] and body["items"][2]["score"] is not None
    assert login(client, s.instructor.email, TEST_PASSWORD).status_code == 302
    html = client.get(f"/instruction/appels/{s.call.reference}/classement").get_data(as_text=True)
    amount = money(400_000 * EURO, "fr")
    for application in (b, c):
        row = _row_of(html, application.reference)
        assert "Conflit d&#39;intérêts" in row or "Conflit d'intérêts" in row
        shown = row.replace(application.reference, "")  # the reference's digits may hold the score's (T2514…)
        assert number(full[application.id].item.score, "fr") not in shown and amount not in shown
        assert application.organisation.name not in row and "financé" not in row and "attente" not in row
    row = _row_of(html, a.reference)
    assert number(full[a.id].item.score, "fr") in row and amount in row


def test_ranking_hides_a_files_score_until_the_viewers_own_review_is_submitted(app, s, client):
    from app.formatting import number

    a, b, c = _ranked(s)
    ops.save_review(s.session, a, s.instructor, scores={"reponse_defi": "8"}, comments={}, opinion="")  # a draft
    s.session.commit()
    url = f"/api/v1/calls/{s.call.reference}/ranking"
    headers = _token(client, s.instructor)
    items = {i["reference"]: i for i in client.get(url, headers=headers).get_json()["items"]}
    assert items[a.reference]["masked"] == "review_pending" and items[a.reference]["score"] is None
    assert items[b.reference]["masked"] is None and items[b.reference]["score"] is not None
    assert login(client, s.instructor.email, TEST_PASSWORD).status_code == 302
    ranking_url = f"/instruction/appels/{s.call.reference}/classement"
    hidden_score = number(ops.call_ranking(s.session, s.call).lines[0].item.score, "fr")
    row = _row_of(client.get(ranking_url).get_data(as_text=True), a.reference)
    assert "pas encore transmis" in row and hidden_score not in row.replace(a.reference, "")  # its digits may hold it
    # Once submitted, the file's aggregate (now with this review) is shown.
    ops.save_review(s.session, a, s.instructor, scores=GOOD, comments={}, opinion="Favorable", submit=True)
    s.session.commit()
    line = next(l for l in ops.call_ranking(s.session, s.call, viewer=s.instructor).lines if l.application.id == a.id)
    assert line.masked is None and line.score.n_reviews == 3
    items = {i["reference"]: i for i in client.get(url, headers=headers).get_json()["items"]}
    assert items[a.reference]["score"] == str(line.item.score) and items[a.reference]["masked"] is None
    row = _row_of(client.get(ranking_url).get_data(as_text=True), a.reference)
    assert "pas encore transmis" not in row and number(line.item.score, "fr") in row


def test_conflicted_ids_of_a_list_agree_with_the_check_on_each_file(s):
    from app.models import Membership
    from app.operations import conflicts

    viewer = s.instructor
    viewer.email = "charge@conseil-ia.fr"
    member_org = make_organisation(s.session, make_user(s.session))
    s.session.add(Membership(user=viewer, organisation=member_org, is_owner=False))
    domain_org = make_organisation(s.session, make_user(s.session, email="dg@conseil-ia.fr"))
    webmail_org = make_organisation(s.session, make_user(s.session, email="dg@gmail.com"))
    s.session.flush()
    files = {"plain": s.file, "declared": s.new_file(title="déclaré")}
    for name, org in (("member", member_org), ("domain", domain_org), ("webmail", webmail_org)):
        files[name] = make_application(s.session, s.call, org, state="instruction", title=name)
    s.session.add(ConflictDeclaration(application_id=files["declared"].id, user_id=viewer.id, role="instructor",
                                      has_conflict=True, link="Conjoint du dirigeant"))
    s.session.commit()
    one_by_one = {a.id for a in files.values() if conflicts.conflict_status(s.session, viewer, a).conflicted}
    assert conflicts.conflicted_ids(s.session, viewer, list(files.values())) == one_by_one == {
        files["declared"].id, files["member"].id, files["domain"].id}
