"""The console's MTurk review page against the simulator over HTTP: its buttons show the
CLI's plan (one implementation, two faces), ask first, act only on what was shown, are
CSRF-protected and idempotent under double clicks, and refuse broken input with a 400."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.mturk.models import BonusPayment
from experiment_host.researcher.accounts import add_researcher
from tests.mturk.test_hits_review import run_status
from tests.researcher.support import PASSWORD, csrf_token, log_in

PLAN = re.compile(r'<pre class="plan" data-testid="plan">(.*?)</pre>', re.S)
OUTCOME = re.compile(r'<pre class="plan" data-testid="outcome">(.*?)</pre>', re.S)
SHOWN = re.compile(r'name="shown" value="([^"]+)"')


@pytest.fixture
def console(app, client):
    """The test client, logged in as a researcher."""
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    assert log_in(client).status_code == 303
    return client


def review_page(console, slug="basic"):
    page = console.get(f"/researcher/experiments/{slug}/mturk")
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    return page.get_data(as_text=True)


def plan(console, do, slug="basic", **fields):
    """Press a review button: (status, plan lines, the confirmation's fields)."""
    token = csrf_token(review_page(console, slug))
    answer = console.post(f"/researcher/experiments/{slug}/mturk/plan",
                          data={"csrf_token": token, "do": do, **fields})
    text = answer.get_data(as_text=True)
    found = PLAN.search(text)
    lines = html.unescape(found.group(1)).split("\n") if found else []
    confirm = {"csrf_token": token, "do": do, **fields, "shown": SHOWN.findall(text)}
    return answer.status_code, lines, confirm, text


def confirm(console, fields, slug="basic"):
    answer = console.post(f"/researcher/experiments/{slug}/mturk/do", data=fields)
    text = answer.get_data(as_text=True)
    found = OUTCOME.search(text)
    return answer.status_code, html.unescape(found.group(1)) if found else text


def cli_plan(hits, *args):
    """The plan lines ``flask hits ... --dry-run`` prints (without its dry-run line)."""
    result = hits(*args, "--dry-run")
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if not line.startswith("Dry run")]


def mixed_hit(created_hit, work):
    hit_id = created_hit("basic", "--assignments", "5")
    done = {"good": work(hit_id), "empty": work(hit_id, n_records=0, complete=False),
            "unfinished": work(hit_id, complete=False), "stranger": work(hit_id, start=False)}
    return hit_id, done


def test_the_buttons_plans_are_the_clis_plans(console, hits, created_hit, work, app):
    _, worked = mixed_hit(created_hit, work)
    with app.app_context():
        run = db.session.get(Run, worked["good"].run_id)
        run.bonus_cents = 25
        db.session.commit()
    status, lines, _, _ = plan(console, "approve:all")
    assert status == 200
    assert lines == cli_plan(hits, "approve", "--all")
    assert "1 to approve, 3 skipped." in lines
    status, lines, _, _ = plan(console, "reject:all", message="No data was recorded.")
    assert status == 200
    assert lines == cli_plan(hits, "reject", "--no-data", "--all", "--message", "x")
    assert "2 to reject, 2 skipped." in lines
    status, lines, _, _ = plan(console, "bonus:all", approve_first="y")
    assert lines == cli_plan(hits, "bonus", "--all", "--approve")
    assert lines[-1].startswith("1 bonus(es) to pay: $0.25")


def test_approve_asks_then_acts_once_under_a_double_click(console, sim, created_hit, work, app):
    _, worked = mixed_hit(created_hit, work)
    good = worked["good"].assignment_id
    _, _, fields, page = plan(console, "approve:all")
    assert fields["shown"] == [good] and 'data-testid="confirm"' in page
    assert sim.assignments[good].status == "Submitted"  # the plan alone changes nothing
    first = confirm(console, fields)
    second = confirm(console, fields)  # the same confirmation again: a double click
    assert first == (200, "Summary: 1 approved now, 0 were already, 3 skipped, 0 failed.")
    assert second[0] == 200 and "0 approved now" in second[1]
    assert sim.calls["ApproveAssignment"] == 1
    assert sim.assignments[good].status == "Approved"
    assert run_status(app, worked["good"].run_id) == RunStatus.APPROVED
    for name in ("empty", "unfinished", "stranger"):
        assert sim.assignments[worked[name].assignment_id].status == "Submitted"


def test_only_what_was_shown_is_done(console, sim, created_hit, work):
    hit_id = created_hit("basic", "--assignments", "5")
    first = work(hit_id)
    _, _, fields, _ = plan(console, "approve:all")
    later = work(hit_id)  # submitted after the plan was shown
    status, outcome = confirm(console, fields)
    assert status == 200 and "1 approved now" in outcome
    assert sim.assignments[first.assignment_id].status == "Approved"
    assert sim.assignments[later.assignment_id].status == "Submitted"


def test_bulk_approve_of_ticked_rows_and_reject_with_message(console, sim, created_hit, work):
    hit_id = created_hit("basic", "--assignments", "5")
    a, b, c = (work(hit_id) for _ in range(3))
    _, lines, fields, _ = plan(console, "approve:selected",
                               assignment_ids=[a.assignment_id, b.assignment_id])
    assert lines[-1] == "2 to approve, 0 skipped."
    assert confirm(console, fields)[0] == 200
    assert {sim.assignments[x.assignment_id].status for x in (a, b)} == {"Approved"}
    _, lines, fields, _ = plan(console, f"reject:{c.assignment_id}",
                               message="The answers were random.")
    assert lines[-1] == "1 to reject, 0 skipped."
    assert confirm(console, fields)[0] == 200
    assert sim.assignments[c.assignment_id].status == "Rejected"
    assert sim.assignments[c.assignment_id].requester_feedback == "The answers were random."


def test_a_bonus_is_paid_once_at_the_amount_shown(console, sim, created_hit, work, app, hits):
    hit_id = created_hit("basic", "--assignments", "2")
    worked = work(hit_id)
    one = worked.assignment_id
    _, lines, fields, _ = plan(console, f"bonus:{one}", amount="0.40", reason="Thanks!")
    assert f"  skip {one}: not approved (MTurk: Submitted); approve it first, or give " \
           "--approve" in lines  # the CLI's words: the rules are the CLI's
    _, lines, fields, _ = plan(console, f"bonus:{one}", amount="0.40", reason="Thanks!",
                               approve_first="y")
    assert fields["shown"] == [f"approve:{one}", f"pay:{one}=0.40"]
    assert confirm(console, fields)[0] == 200
    assert confirm(console, fields)[0] == 200  # a double click pays nothing more
    assert [(b.assignment_id, b.amount) for b in sim.bonuses] == [(one, Decimal("0.40"))]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BonusPayment)) == 1
    changed = dict(fields, amount="0.90")  # a confirmation whose amount is not the one shown
    changed_sim = len(sim.bonuses)
    assert confirm(console, changed)[0] == 200 and len(sim.bonuses) == changed_sim


def test_sync_button_marks_runs_submitted(console, sim, created_hit, work, app):
    hit_id = created_hit("basic", "--assignments", "2")
    worked = work(hit_id)
    token = csrf_token(review_page(console))
    answer = console.post("/researcher/experiments/basic/mturk/sync", data={"csrf_token": token})
    assert answer.status_code == 200 and "Synced 1 of 1 HIT(s): 1 submitted." in \
        answer.get_data(as_text=True)
    assert run_status(app, worked.run_id) == RunStatus.SUBMITTED


def test_review_page_lists_waiting_with_data_completeness(console, created_hit, work):
    _, worked = mixed_hit(created_hit, work)
    page = review_page(console)
    assert page.count('name="assignment_ids"') == 4
    assert ">complete<" in page and "no run here for this assignment" in page
    assert f'/researcher/experiments/basic/runs/{worked["good"].run_id}"' in page


@pytest.mark.parametrize(("fields", "message"), [
    ({"do": "drop:all"}, "Unknown action"),
    ({"do": "reject:all"}, "needs a message"),
    ({"do": "approve:selected"}, "Tick at least one"),
    ({"do": "approve:selected", "assignment_ids": "<script>"}, "is not an MTurk assignment id"),
    ({"do": "approve:3ABCDEFGHIJKLMNOPQRSTUVWXYZ012"}, "not an assignment of this experiment"),
    ({"do": "bonus:all", "amount": "1.00", "reason": "x"}, "ticked assignments only"),
    ({"do": "bonus:selected", "assignment_ids": "A1", "amount": "1.234", "reason": "x"},
     "not a dollar amount"),
])
def test_broken_requests_get_a_400_with_the_reason(console, created_hit, work, fields, message):
    created_hit("basic")
    token = csrf_token(review_page(console))
    answer = console.post("/researcher/experiments/basic/mturk/plan",
                          data={"csrf_token": token, **fields})
    assert answer.status_code == 400
    assert message in html.unescape(answer.get_data(as_text=True))


def test_every_action_needs_the_csrf_token(console, sim, created_hit, work):
    hit_id = created_hit("basic")
    worked = work(hit_id)
    for path, do in (("plan", "approve:all"), ("do", "approve:all"), ("sync", "")):
        answer = console.post(f"/researcher/experiments/basic/mturk/{path}",
                              data={"do": do, "shown": worked.assignment_id})
        assert answer.status_code == 400, path
    assert sim.assignments[worked.assignment_id].status == "Submitted"


def test_live_mturk_needs_the_box_ticked(console, sim, created_hit, work, app):
    worked = work(created_hit("basic"))
    _, _, fields, _ = plan(console, "approve:all")
    app.config["MTURK_SANDBOX"] = False  # the console then works on live MTurk
    status, text = confirm(console, fields)
    assert status == 400 and "tick the box" in text
    assert sim.assignments[worked.assignment_id].status == "Submitted"
    status, _ = confirm(console, dict(fields, live_ok="y"))
    assert status == 200 and sim.assignments[worked.assignment_id].status == "Approved"


def test_console_pages_need_a_login_and_a_known_experiment(client, console, created_hit):
    assert console.get("/researcher/experiments/nope/mturk").status_code == 404
    assert console.get("/researcher/experiments/nope/entry").status_code == 404
    console.post("/researcher/logout", data={"csrf_token": csrf_token(review_page(console))})
    assert client.get("/researcher/experiments/basic/mturk").status_code == 401
    answer = client.get("/researcher/experiments/basic/mturk", headers={"Accept": "text/html"})
    assert answer.status_code in (302, 303) and "/researcher/login" in answer.location


def test_mturk_down_is_a_502_page_not_a_500(console, sim, created_hit):
    created_hit("basic")
    sim.faults.fail_next = 50
    answer = console.get("/researcher/experiments/basic/mturk")
    assert answer.status_code == 502
    assert "MTurk did not answer as expected" in answer.get_data(as_text=True)
