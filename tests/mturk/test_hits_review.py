"""``flask hits status / approve / reject / bonus`` against the simulator, over HTTP."""

from __future__ import annotations

from decimal import Decimal

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.mturk.models import BonusPayment


def run_status(app, run_id):
    with app.app_context():
        return db.session.get(Run, run_id).status


def test_full_rehearsal_status_approve_only_complete_runs(hits, sim, app, created_hit, work):
    hit_id = created_hit("basic", "--assignments", "5")
    good = work(hit_id)
    empty = work(hit_id, n_records=0, complete=False)  # submitted with no data
    unfinished = work(hit_id, complete=False)  # data, but never completed
    stranger = work(hit_id, start=False)  # no run at all
    not_submitted = work(hit_id, submit=False)  # completed here, never submitted
    status = hits("status", hit_id)
    assert status.exit_code == 0, status.output
    assert "submitted 4" in status.output
    assert "Submitted with complete data: 1" in status.output
    assert "Submitted WITHOUT complete data: 3" in status.output
    assert f"Completed here but never submitted: 1\n    {not_submitted.assignment_id}" \
        in status.output
    dry = hits("approve", hit_id, "--dry-run")
    assert "Dry run: 1 would be approved" in dry.output
    assert "no data: the run saved no records" in dry.output
    assert "run not completed (status in_progress)" in dry.output
    assert "no run found" in dry.output
    result = hits("approve", hit_id, "--yes")
    assert result.exit_code == 0, result.output
    assert "Summary: 1 approved now, 0 were already, 3 skipped, 0 failed." in result.output
    assert sim.assignments[good.assignment_id].status == "Approved"
    for other in (empty, unfinished, stranger):
        assert sim.assignments[other.assignment_id].status == "Submitted"
    assert run_status(app, good.run_id) == RunStatus.APPROVED
    again = hits("approve", hit_id, "--yes")
    assert again.exit_code == 0 and "0 to approve, 3 skipped" in again.output
    listed = hits("list")
    assert f"{hit_id}  basic" in listed.output and "approved 1" in listed.output


def test_approve_all_concurrently_with_throttling_retried(hits, sim, app, created_hit, work):
    hit_id = created_hit("open", "--assignments", "6")
    done = [work(hit_id, slug="open") for _ in range(6)]
    sim.faults.throttle_next = 2
    sim.faults.operations = frozenset({"ApproveAssignment"})
    result = hits("approve", "--all", "--yes")
    assert result.exit_code == 0, result.output
    assert "Summary: 6 approved now" in result.output
    assert all(sim.assignments[w.assignment_id].status == "Approved" for w in done)


def test_approve_already_approved_on_mturk_counts_as_done(hits, sim, app, created_hit, work):
    hit_id = created_hit()
    worked = work(hit_id)
    sim.faults.lose_next = 1  # approved on MTurk, answer lost: the retry finds it approved
    sim.faults.operations = frozenset({"ApproveAssignment"})
    result = hits("approve", hit_id, "--yes")
    assert result.exit_code == 0, result.output
    assert "0 approved now, 1 were already" in result.output
    assert sim.assignments[worked.assignment_id].status == "Approved"


def test_throttling_that_never_ends_is_a_clear_error(hits, sim, app, created_hit, work):
    hit_id = created_hit()
    work(hit_id)
    app.config["MTURK_MAX_ATTEMPTS"] = 2
    sim.faults.throttle_next = 100
    sim.faults.operations = frozenset({"ApproveAssignment"})
    result = hits("approve", hit_id, "--yes")
    assert result.exit_code == 1
    assert "throttling" in result.output and "run the command again" in result.output
    assert "Traceback" not in result.output


def test_approve_needs_a_hit_or_all(hits):
    result = hits("approve")
    assert result.exit_code == 2 and "--all" in result.output


def test_reject_no_data_needs_message_and_spares_complete_runs(hits, sim, app, created_hit,
                                                               work):
    hit_id = created_hit()
    good = work(hit_id)
    empty = work(hit_id, n_records=0, complete=False)
    stranger = work(hit_id, start=False)
    assert hits("reject", "--no-data", "--hit", hit_id).exit_code == 2  # --message required
    result = hits("reject", "--no-data", "--hit", hit_id, "--message", "No data arrived.",
                  input="y\n")
    assert result.exit_code == 0, result.output
    assert "Summary: 2 rejected now" in result.output
    assert sim.assignments[empty.assignment_id].status == "Rejected"
    assert sim.assignments[empty.assignment_id].requester_feedback == "No data arrived."
    assert sim.assignments[stranger.assignment_id].status == "Rejected"
    assert sim.assignments[good.assignment_id].status == "Submitted"
    assert run_status(app, empty.run_id) == RunStatus.REJECTED


def test_reject_explicit_ids(hits, sim, created_hit, work):
    hit_id = created_hit()
    one, two = work(hit_id), work(hit_id)
    result = hits("reject", one.assignment_id, "--message", "Did not follow instructions.",
                  "--yes")
    assert result.exit_code == 0, result.output
    assert sim.assignments[one.assignment_id].status == "Rejected"
    assert sim.assignments[two.assignment_id].status == "Submitted"
    missing = hits("reject", "NOSUCHASSIGNMENT", "--message", "x", "--yes")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def set_bonus(client, token, amount, reason="Great accuracy"):
    return client.post("/api/bonus", json={"token": token, "amount": amount, "reason": reason})


def test_bonus_from_runs_paid_once(hits, sim, app, client, created_hit, work):
    hit_id = created_hit()
    rich, plain = work(hit_id), work(hit_id)
    assert set_bonus(client, rich.token, "0.40").status_code == 200
    hits("approve", hit_id, "--yes")
    dry = hits("bonus", hit_id, "--dry-run")
    assert "1 bonus(es) to pay: $0.40 + Amazon's fee $0.08 = $0.48" in dry.output
    assert not sim.bonuses
    result = hits("bonus", hit_id, "--yes")
    assert result.exit_code == 0, result.output
    assert "Summary: 1 paid now" in result.output
    [paid] = sim.bonuses
    assert (paid.assignment_id, paid.amount, paid.reason) == (
        rich.assignment_id, Decimal("0.40"), "Great accuracy")
    again = hits("bonus", hit_id, "--yes")
    assert again.exit_code == 0 and "already paid $0.40" in again.output
    assert len(sim.bonuses) == 1 and plain.assignment_id not in again.output


def test_bonus_never_twice_when_the_response_is_lost(hits, sim, app, client, created_hit,
                                                     work):
    hit_id = created_hit()
    worked = work(hit_id)
    set_bonus(client, worked.token, "0.25")
    assert hits("approve", hit_id, "--yes").exit_code == 0
    sim.faults.lose_next = 1  # paid on MTurk, answer lost, boto3 retries with the same token
    sim.faults.operations = frozenset({"SendBonus"})
    result = hits("bonus", hit_id, "--yes")
    assert result.exit_code == 0, result.output
    assert len(sim.bonuses) == 1
    assert sim.calls["SendBonus"] == 2
    with app.app_context():  # the database forgets; MTurk's own record still stops a repeat
        db.session.query(BonusPayment).delete()
        db.session.commit()
    again = hits("bonus", hit_id, "--yes")
    assert "had been paid already" in again.output and len(sim.bonuses) == 1


def test_bonus_from_csv_and_insufficient_funds(hits, sim, created_hit, work, tmp_path):
    hit_id = created_hit()
    worked = work(hit_id)
    assert hits("approve", hit_id, "--yes").exit_code == 0
    table = tmp_path / "bonuses.csv"
    table.write_text(f"assignment_id,amount,reason\n{worked.assignment_id},1.50,Top score\n")
    sim.balance = Decimal("1.00")
    poor = hits("bonus", "--csv", str(table), "--yes")
    assert poor.exit_code == 1 and "does not cover $1.80" in poor.output
    sim.balance = Decimal("100.00")
    result = hits("bonus", "--csv", str(table), "--yes")
    assert result.exit_code == 0, result.output
    assert [b.amount for b in sim.bonuses] == [Decimal("1.50")]
    table.write_text("assignment_id,amount,reason\nX,abc,oops\n")
    bad = hits("bonus", "--csv", str(table), "--yes")
    assert bad.exit_code == 1 and "line 2" in bad.output


def test_insufficient_funds_from_mturk_is_clear(hits, sim, created_hit):
    hit_id = created_hit("basic", "--assignments", "2")
    sim.balance = Decimal("0.10")  # extend has no balance check of its own: MTurk refuses
    result = hits("extend", hit_id, "--add", "2", "--yes")
    assert result.exit_code == 1
    assert "does not hold enough money" in result.output and "Add funds" in result.output
    assert "Traceback" not in result.output and sim.hits[hit_id].max_assignments == 2
