"""The console's Prolific review page against the simulator over HTTP: its buttons show the
plan ``flask prolific`` prints for the same state (one implementation, two faces), ask
first, act only on what was shown, need edit access and the CSRF token, are idempotent under
double clicks, write the audit log, and refuse broken input with a clear 400."""

from __future__ import annotations

import html
import re

import pytest

from experiment_host.access import grant
from experiment_host.audit import audit_entries
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.prolific import bonuses
from experiment_host.prolific.models import BonusState, ProlificBonus
from experiment_host.researcher.accounts import add_researcher
from tests.researcher.support import PASSWORD, csrf_token, log_in

PLAN = re.compile(r'<pre class="plan" data-testid="plan">(.*?)</pre>', re.S)
OUTCOME = re.compile(r'<pre class="plan" data-testid="outcome">(.*?)</pre>', re.S)
SHOWN = re.compile(r'name="shown" value="([^"]+)"')
REASON = ("Your submission reached us without any of the task's data, so we cannot pay for "
          "it; please contact us if you think this is wrong.")


@pytest.fixture
def console(app, client):
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    assert log_in(client).status_code == 303
    return client


def review_page(console):
    page = console.get("/researcher/experiments/survey/prolific")
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    return page.get_data(as_text=True)


def plan(console, do, study_id, **fields):
    """Press a review button: (status, plan lines, the confirmation's fields, page)."""
    token = csrf_token(review_page(console))
    answer = console.post("/researcher/experiments/survey/prolific/plan",
                          data={"csrf_token": token, "do": do, "study_id": study_id, **fields})
    text = answer.get_data(as_text=True)
    found = PLAN.search(text)
    lines = html.unescape(found.group(1)).split("\n") if found else []
    confirm = {"csrf_token": token, "do": do, "study_id": study_id, **fields,
               "shown": SHOWN.findall(text)}
    return answer.status_code, lines, confirm, text


def confirm(console, fields):
    answer = console.post("/researcher/experiments/survey/prolific/do", data=fields)
    text = answer.get_data(as_text=True)
    found = OUTCOME.search(text)
    return answer.status_code, html.unescape(found.group(1)) if found else text


def cli_plan(prolific, *args):
    result = prolific(*args, "--dry-run")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def mixed_study(created_study, take):
    study_id = created_study()
    took = {"good": take(study_id, bonus="0.25"),
            "empty": take(study_id, n_records=0, complete=False),
            "unfinished": take(study_id, complete=False),
            "forged": take(study_id, run_participant="someoneelse")}
    return study_id, took


def test_the_buttons_plans_are_the_clis_plans(console, prolific, created_study, take):
    study_id, took = mixed_study(created_study, take)
    status, lines, _, _ = plan(console, "approve:all", study_id)
    assert status == 200
    assert lines == cli_plan(prolific, "approve", study_id)
    assert lines[-1].startswith(f"Study {study_id}: 1 submission(s) to approve")
    assert sum("mismatch" in line for line in lines) == 1
    status, lines, _, _ = plan(console, "reject:all", study_id, message=REASON,
                               category="NO_DATA")
    assert status == 200
    assert lines == cli_plan(prolific, "reject", "--no-data", study_id, "--category", "NO_DATA",
                             "--message", REASON)
    assert f"  reject {took['empty'].submission_id}" in "\n".join(lines)
    assert prolific("approve", study_id, "--yes").exit_code == 0
    status, lines, _, _ = plan(console, "bonus:all", study_id)
    assert lines == cli_plan(prolific, "bonus", study_id)
    assert lines[-1].startswith(f"Study {study_id}: 1 bonus(es) to pay, 0.25")


def test_the_plan_alone_keeps_no_ledger_row(console, app, prolific, created_study, take, sim):
    study_id = created_study()
    take(study_id, bonus="0.25")
    assert prolific("approve", study_id, "--yes").exit_code == 0
    status, _, fields, _ = plan(console, "bonus:all", study_id)
    assert status == 200 and len(fields["shown"]) == 1
    with app.app_context():
        assert db.session.query(ProlificBonus).count() == 0
    assert sim.payments == []


def test_bulk_approve_asks_then_acts_once_under_a_double_click(console, app, sim, created_study,
                                                               take):
    study_id, took = mixed_study(created_study, take)
    good = took["good"].submission_id
    _, _, fields, page = plan(console, "approve:all", study_id)
    assert fields["shown"] == [good] and 'data-testid="confirm"' in page
    assert sim.submissions[good].status == "AWAITING REVIEW"  # the plan alone changes nothing
    first = confirm(console, fields)
    second = confirm(console, fields)  # the same confirmation again: a double click
    assert first == (200, "Approved 1.")
    assert second == (200, "Approved 0.")
    assert sim.calls["POST /prolific/api/v1/submissions/bulk-approve/"] == 1
    assert sim.submissions[good].status == "APPROVED"
    for name in ("empty", "unfinished", "forged"):
        assert sim.submissions[took[name].submission_id].status == "AWAITING REVIEW"
    with app.app_context():
        assert db.session.get(Run, took["good"].run_id).status == RunStatus.APPROVED
        entries = [(e.action, e.actor, e.experiment_slug, e.detail) for e in audit_entries()]
    assert entries == [("approve", "ada", "survey", f"1 submission(s) of Prolific study "
                                                     f"{study_id}")]


def test_only_what_was_shown_is_done(console, sim, created_study, take):
    study_id = created_study()
    first = take(study_id)
    _, _, fields, _ = plan(console, "approve:all", study_id)
    later = take(study_id)  # came back after the plan was shown
    assert confirm(console, fields) == (200, "Approved 1.")
    assert sim.submissions[first.submission_id].status == "APPROVED"
    assert sim.submissions[later.submission_id].status == "AWAITING REVIEW"


def test_a_bonus_is_paid_once_through_the_page(console, app, sim, prolific, created_study, take):
    study_id = created_study()
    recorded, fixed = take(study_id, bonus="0.25"), take(study_id)
    assert prolific("approve", study_id, "--yes").exit_code == 0
    _, lines, fields, _ = plan(console, "bonus:all", study_id)
    assert fields["shown"] == [f"pay:{recorded.submission_id}=0.25"]
    assert confirm(console, fields)[1].startswith("Paid 1;")
    assert confirm(console, fields) == (200, "Paid 0: nothing left to pay (see the plan's "
                                             "reasons).")
    _, lines, fields, _ = plan(console, f"bonus:{fixed.submission_id}", study_id,
                               amount="0.40", reason="Thank you")
    assert f"  pay 0.40 on {fixed.submission_id}" in "\n".join(lines)
    tampered = {**fields, "shown": [f"pay:{fixed.submission_id}=0.50"]}
    assert confirm(console, tampered)[1].startswith("Paid 0")  # only the amount shown
    assert confirm(console, fields)[1].startswith("Paid 1;")
    assert confirm(console, fields)[1].startswith("Paid 0")
    assert sorted((p["submission_id"], p["cents"]) for p in sim.payments) == sorted(
        [(recorded.submission_id, 25), (fixed.submission_id, 40)])
    with app.app_context():
        pays = [e.detail for e in audit_entries() if e.action == "pay"]
    assert pays == [f"1 submission(s) of Prolific study {study_id}"] * 2


def test_reject_needs_prolifics_message_and_category(console, sim, created_study, take):
    study_id = created_study()
    empty = take(study_id, n_records=0, complete=False).submission_id
    status, _, _, text = plan(console, f"reject:{empty}", study_id, message="Too short.",
                              category="NO_DATA")
    assert status == 400 and "at least 100 characters" in text
    status, _, _, text = plan(console, f"reject:{empty}", study_id, message=REASON)
    assert status == 400 and "rejection category" in text
    status, _, fields, _ = plan(console, f"reject:{empty}", study_id, message=REASON,
                                    category="NO_DATA")
    assert status == 200 and fields["shown"] == [empty]
    assert confirm(console, fields) == (200, "Rejected 1.")
    assert confirm(console, fields) == (200, "Rejected 0.")
    assert sim.submissions[empty].status == "REJECTED"


def test_review_page_lists_awaiting_first_with_data_match_and_bonus(console, created_study,
                                                                     take, prolific):
    study_id, took = mixed_study(created_study, take)
    assert prolific("approve", study_id, "--yes").exit_code == 0
    take(study_id)  # awaits review after the approved one
    text = review_page(console)
    table = text.split(f'data-testid="submissions-{study_id}"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-submission="(\w+)">(.*?)</tr>', table, re.S)
    statuses = [re.findall(r"<td>(AWAITING REVIEW|APPROVED)</td>", row)[0] for _, row in rows]
    assert statuses == ["AWAITING REVIEW"] * 4 + ["APPROVED"]
    cells = dict(rows)
    good = cells[took["good"].submission_id]
    assert "complete" in good and "<td>0.25</td>" in good and ">yes<" in good
    assert ">NO<" in cells[took["forged"].submission_id]
    assert "incomplete" in cells[took["empty"].submission_id]
    assert "incomplete" in cells[took["unfinished"].submission_id]


def test_sync_button_copies_statuses(console, app, sim, created_study, take):
    study_id = created_study()
    took = take(study_id, complete=False, come_back=False)
    sim.submissions[took.submission_id].status = "RETURNED"
    token = csrf_token(review_page(console))
    answer = console.post("/researcher/experiments/survey/prolific/sync",
                          data={"csrf_token": token})
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True))
    assert f"Study {study_id}: 1 returned." in text, text[text.find("outcome"):][:300]
    with app.app_context():
        assert db.session.get(Run, took.run_id).status == RunStatus.RETURNED


@pytest.mark.parametrize(("fields", "message"), [
    ({"do": "delete:all"}, "Unknown action"),
    ({"do": "approve:selected"}, "Tick at least one"),
    ({"do": "approve:all", "study_id": "../x"}, "Choose a study"),
    ({"do": "approve:all", "study_id": "5f0000000000000000000000"}, "not a Prolific study of"),
    ({"do": "approve:selected", "submission_ids": ["<script>"]}, "not a Prolific submission"),
    ({"do": "approve:selected", "submission_ids": ["abc123"]}, "not a submission of study"),
    ({"do": "bonus:all", "amount": "0.30", "reason": "x"}, "ticked submissions only"),
    ({"do": "bonus:selected", "submission_ids": ["abc"], "amount": "-1", "reason": "x"},
     "positive amount"),
])
def test_broken_requests_get_a_400_with_the_reason(console, created_study, fields, message):
    study_id = created_study()
    token = csrf_token(review_page(console))
    answer = console.post("/researcher/experiments/survey/prolific/plan",
                          data={"csrf_token": token, "study_id": study_id, **fields})
    assert answer.status_code == 400
    assert message in html.unescape(answer.get_data(as_text=True))


def test_every_action_needs_the_csrf_token(console, sim, created_study, take):
    study_id = created_study()
    good = take(study_id)
    _, _, fields, _ = plan(console, "approve:all", study_id)
    for path in ("plan", "do", "sync"):
        answer = console.post(f"/researcher/experiments/survey/prolific/{path}",
                              data={**fields, "csrf_token": "forged"})
        assert answer.status_code == 400
    assert sim.submissions[good.submission_id].status == "AWAITING REVIEW"


def test_acting_needs_edit_access(app, client, created_study, take, sim):
    study_id = created_study()
    good = take(study_id)
    with app.app_context():
        add_researcher("carol", PASSWORD)
        grant("survey", "carol", "view")
        db.session.commit()
    assert log_in(client, "carol").status_code == 303
    page = client.get("/researcher/experiments/survey/prolific")
    assert page.status_code == 200  # view may look
    token = csrf_token(page.get_data(as_text=True))
    for path in ("plan", "do", "sync"):
        answer = client.post(f"/researcher/experiments/survey/prolific/{path}",
                             data={"csrf_token": token, "do": "approve:all",
                                   "study_id": study_id, "shown": [good.submission_id]})
        assert answer.status_code == 403
    assert sim.submissions[good.submission_id].status == "AWAITING REVIEW"


def test_without_a_token_the_page_says_what_to_set(console, app, created_study):
    study_id = created_study()
    app.config["PROLIFIC_API_TOKEN"] = ""
    assert 'data-testid="no-token"' in review_page(console)
    token = csrf_token(review_page(console))
    answer = console.post("/researcher/experiments/survey/prolific/plan",
                          data={"csrf_token": token, "do": "approve:all", "study_id": study_id})
    assert answer.status_code == 409 and "PROLIFIC_API_TOKEN" in answer.get_data(as_text=True)


def test_prolific_down_is_a_502_page_not_a_500(console, created_study, simulator):
    from tests.prolific.conftest import faults

    created_study()
    faults(simulator, fail_next=20)
    page = console.get("/researcher/experiments/survey/prolific")
    assert page.status_code == 502 and "Prolific did not answer" in page.get_data(as_text=True)
    faults(simulator, fail_next=0)


def test_the_dashboard_links_the_prolific_review_page(console):
    page = console.get("/researcher/experiments/survey").get_data(as_text=True)
    assert 'href="/researcher/experiments/survey/prolific"' in page


def test_two_payers_of_the_same_bonus_pay_it_once(app, prolific, created_study, take, sim):
    """A second request that planned the same rows finds them claimed and pays none."""
    study_id = created_study()
    took = take(study_id, bonus="0.25")
    assert prolific("approve", study_id, "--yes").exit_code == 0
    from experiment_host.prolific import actions
    from experiment_host.researcher.console.prolific_review import console_client

    with app.app_context():
        client = console_client(app.config)
        round_ = actions.bonus_round(client, study_id)
        db.session.commit()
        with db.engine.begin() as other:  # the first payer claimed the row meanwhile
            other.execute(ProlificBonus.__table__.update().values(state=BonusState.PAYING.value,
                                                                  bulk_id="theirs"))
        result = bonuses.pay(client, study_id, round_.rows, 2)
        assert result.paid == 0 and "another request" in result.failed[0]
        row = db.session.query(ProlificBonus).one()
        db.session.refresh(row)
        assert (row.state, row.bulk_id) == (BonusState.PAYING, "theirs")
    assert sim.payments == []
    assert took.submission_id in sim.submissions


def test_approve_ticked_and_a_bonus_without_one_recorded(console, sim, created_study, take):
    study_id = created_study()
    one, two, three = take(study_id), take(study_id), take(study_id)
    _, lines, fields, _ = plan(console, "approve:selected", study_id,
                               submission_ids=[one.submission_id, three.submission_id])
    assert fields["shown"] == [one.submission_id, three.submission_id]
    assert lines[-1].startswith(f"Study {study_id}: 2 submission(s) to approve")
    assert confirm(console, fields) == (200, "Approved 2.")
    assert sim.submissions[two.submission_id].status == "AWAITING REVIEW"
    _, lines, fields, _ = plan(console, f"bonus:{one.submission_id}", study_id)
    assert f"  skip {one.submission_id}: no bonus recorded on its run; give an amount" in lines
    assert fields["shown"] == []


def test_the_commands_write_the_audit_log_too(app, prolific, created_study, take):
    study_id = created_study()
    good = take(study_id, bonus="0.25")
    empty = take(study_id, n_records=0, complete=False)
    assert prolific("approve", study_id, "--yes").exit_code == 0
    assert prolific("bonus", study_id, "--yes").exit_code == 0
    assert prolific("reject", empty.submission_id, "--category", "NO_DATA", "--message", REASON,
                    "--yes").exit_code == 0
    assert prolific("approve", study_id, "--yes").exit_code == 0  # nothing left: no entry
    with app.app_context():
        entries = [(e.action, e.experiment_slug, e.detail) for e in audit_entries()]
        actors = {e.actor for e in audit_entries()}
    detail = f"1 submission(s) of Prolific study {study_id}"
    assert sorted(entries) == sorted([("approve", "survey", detail), ("pay", "survey", detail),
                                      ("reject", "survey", detail)])
    assert all(actor.startswith("cli") for actor in actors)
    assert good.participant_id not in str(entries)  # how many, never whose



class Tab:
    """A browser tab over real HTTP (its own cookie jar), logged in as ada."""

    def __init__(self, base: str) -> None:
        import http.cookiejar
        import urllib.request

        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = csrf_token(self.get("/researcher/login")[1])
        assert self.post("/researcher/login", {"csrf_token": token, "username": "ada",
                                               "password": PASSWORD})[0] == 200

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=30) as answer:
            return answer.status, answer.read().decode()

    def post(self, path: str, fields: dict) -> tuple[int, str]:
        import urllib.error
        import urllib.parse

        body = urllib.parse.urlencode(fields, doseq=True).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()


@pytest.mark.parametrize("refused_before", [False, True])
def test_two_simultaneous_confirmations_pay_once(app, console, prolific, created_study, take,
                                                 sim, simulator, refused_before):
    """Two clicks that arrive together (two tabs, two requests at once over HTTP): both plan
    the same bonus, one pays it, the other finds it taken; Prolific is paid once. Whether the
    ledger row is new (both insert it) or already there, payable again after Prolific refused
    an earlier pay call (both claim it)."""
    from concurrent.futures import ThreadPoolExecutor

    from experiment_host.simulator import serve_in_thread
    from tests.prolific.conftest import faults

    study_id = created_study()
    took = take(study_id, bonus="0.25")
    assert prolific("approve", study_id, "--yes").exit_code == 0
    if refused_before:
        balance, sim.balance_cents = sim.balance_cents, 0
        assert "Paid 0" in prolific("bonus", study_id, "--yes").output
        sim.balance_cents = balance
        with app.app_context():
            assert db.session.query(ProlificBonus).one().state == BonusState.SET_UP
    app.config["SESSION_COOKIE_SECURE"] = False  # the tabs speak plain http to 127.0.0.1
    running = serve_in_thread(app, "127.0.0.1", 0)
    try:
        tabs = [Tab(running.url), Tab(running.url)]
        forms = [{"csrf_token": csrf_token(tab.get("/researcher/experiments/survey/prolific")[1]),
                  "do": "bonus:all", "study_id": study_id,
                  "shown": [f"pay:{took.submission_id}=0.25"]} for tab in tabs]
        faults(simulator, latency_seconds=0.3)  # both are under way at the same time
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(
                lambda pair: pair[0].post("/researcher/experiments/survey/prolific/do",
                                          pair[1]), zip(tabs, forms, strict=True)))
        faults(simulator, latency_seconds=0)
    finally:
        running.stop()
    texts = [html.unescape(text) for _, text in answers]
    assert all(status in (200, 502) for status, _ in answers), texts
    assert [p["submission_id"] for p in sim.payments] == [took.submission_id]
    assert sum("Paid 1;" in text for text in texts) == 1, texts
