"""Money follows verified data: ``flask hits approve / bonus / exclude-previous / sync`` check
each run against what MTurk reports, and one id that MTurk refuses never stops a batch."""

from __future__ import annotations

from decimal import Decimal

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus


def set_bonus(client, token, amount="0.30", reason="Great accuracy"):
    answer = client.post("/api/bonus", json={"token": token, "amount": amount, "reason": reason})
    assert answer.status_code == 200, answer.get_json()


def run_status(app, run_id):
    with app.app_context():
        return db.session.get(Run, run_id).status


def paid(sim):
    return sorted(b.assignment_id for b in sim.bonuses)


def test_no_bonus_without_data_even_when_mturk_approved(hits, sim, client, created_hit, work,
                                                        tmp_path):
    hit_id = created_hit("basic", "--assignments", "3")
    empty = work(hit_id, n_records=0, complete=False)  # a bonus recorded, nothing saved
    unfinished = work(hit_id, complete=False)  # records, never completed through the API
    good = work(hit_id)
    for worked in (empty, unfinished, good):
        set_bonus(client, worked.token)
        sim.assignments[worked.assignment_id].status = "Approved"  # e.g. auto-approved
    result = hits("bonus", hit_id, "--yes")
    assert result.exit_code == 0, result.output
    assert (f"skip {empty.assignment_id}: no data: the run did not complete with records "
            "(status in_progress, 0 records)") in result.output
    assert f"skip {unfinished.assignment_id}: no data" in result.output
    assert "Summary: 1 paid now, 0 had been paid already, 2 skipped, 0 failed." in result.output
    assert paid(sim) == [good.assignment_id]
    table = tmp_path / "bonuses.csv"
    table.write_text("assignment_id,amount,reason\n" + "".join(
        f"{w.assignment_id},0.50,Extra\n" for w in (empty, unfinished)))
    by_csv = hits("bonus", "--csv", str(table), "--yes")
    assert by_csv.exit_code == 0, by_csv.output
    assert by_csv.output.count("no data") == 2 and paid(sim) == [good.assignment_id]


def test_bonus_only_once_approved_or_approved_in_the_same_command(hits, sim, app, client,
                                                                  created_hit, work):
    hit_id = created_hit("basic", "--assignments", "3")
    first, second = work(hit_id), work(hit_id)
    empty = work(hit_id, n_records=0, complete=False)
    for worked in (first, second, empty):
        set_bonus(client, worked.token)
    waiting = hits("bonus", hit_id, "--yes")
    assert waiting.exit_code == 0, waiting.output
    assert (f"skip {first.assignment_id}: not approved (MTurk: Submitted); approve it first, "
            "or give --approve") in waiting.output
    assert "0 bonus(es) to pay" in waiting.output and not sim.bonuses
    both = hits("bonus", hit_id, "--approve", "--yes")
    assert both.exit_code == 0, both.output
    assert "2 submitted assignment(s) to approve first." in both.output
    assert "Approved 2 now, 0 were already." in both.output
    assert "Summary: 2 paid now" in both.output
    assert paid(sim) == sorted([first.assignment_id, second.assignment_id])
    assert [run_status(app, w.run_id) for w in (first, second, empty)] == [
        RunStatus.APPROVED, RunStatus.APPROVED, RunStatus.IN_PROGRESS]
    assert sim.assignments[empty.assignment_id].status == "Submitted"


def test_worker_id_mismatch_is_skipped_with_its_reason(hits, sim, app, client, created_hit,
                                                       work, tmp_path):
    hit_id = created_hit("basic", "--assignments", "3")
    forged = work(hit_id, run_worker_id="AVICTIM0000001")  # the page opened as someone else
    lower = work(hit_id)
    with app.app_context():  # MTurk's ids are uppercase; the comparison ignores case
        db.session.get(Run, lower.run_id).worker_id = lower.worker_id.lower()
        db.session.commit()
    for worked in (forged, lower):
        set_bonus(client, worked.token)
    reason = (f"worker id mismatch: our run {forged.run_id} is worker AVICTIM0000001, MTurk "
              f"reports {forged.worker_id} for this assignment")
    approve = hits("approve", hit_id, "--yes")
    assert approve.exit_code == 0, approve.output
    assert f"skip {forged.assignment_id} (worker {forged.worker_id}): {reason}" in approve.output
    assert sim.assignments[forged.assignment_id].status == "Submitted"
    assert sim.assignments[lower.assignment_id].status == "Approved"
    sim.assignments[forged.assignment_id].status = "Approved"  # approved elsewhere
    bonus = hits("bonus", hit_id, "--yes")
    assert bonus.exit_code == 0, bonus.output
    assert f"skip {forged.assignment_id}: {reason}" in bonus.output
    assert [(b.assignment_id, b.worker_id) for b in sim.bonuses] == [
        (lower.assignment_id, lower.worker_id)]
    table = tmp_path / "bonuses.csv"
    table.write_text(f"assignment_id,amount,reason\n{forged.assignment_id},0.50,Extra\n")
    by_csv = hits("bonus", "--csv", str(table), "--yes")
    assert f"skip {forged.assignment_id}: {reason}" in by_csv.output and len(sim.bonuses) == 1
    sync = hits("sync", hit_id)
    assert sync.exit_code == 0, sync.output
    assert f"skip {forged.assignment_id}: {reason}" in sync.output
    assert run_status(app, forged.run_id) == RunStatus.COMPLETED
    excluded = hits("exclude-previous", "basic")
    assert excluded.exit_code == 0, excluded.output
    assert (f"skip AVICTIM0000001 (assignment {forged.assignment_id}): worker id mismatch, "
            f"MTurk reports {forged.worker_id}; not marked") in excluded.output
    marked = {worker for _, worker in sim.worker_qualifications}
    assert marked == {forged.worker_id, lower.worker_id}


def test_one_refused_id_is_reported_and_the_rest_is_done(hits, sim, app, client, created_hit,
                                                         work, tmp_path):
    hit_id = created_hit("basic", "--assignments", "3")
    one, refused, three = work(hit_id), work(hit_id), work(hit_id)
    for worked in (one, refused, three):
        set_bonus(client, worked.token)
    sim.faults.refuse = {refused.assignment_id: "AWS.MechanicalTurk.InvalidAssignmentState"}
    sim.faults.operations = frozenset({"ApproveAssignment"})
    approve = hits("bonus", hit_id, "--approve", "--yes")
    assert approve.exit_code == 1
    assert f"failed {refused.assignment_id}: MTurk refused approve_assignment" in approve.output
    assert "Summary: 2 paid now, 0 had been paid already, 0 skipped, 1 failed." in approve.output
    assert paid(sim) == sorted([one.assignment_id, three.assignment_id])
    sim.faults.operations = frozenset({"SendBonus"})
    assert hits("approve", hit_id, "--yes").exit_code == 0
    table = tmp_path / "bonuses.csv"
    table.write_text("assignment_id,amount,reason\nNOSUCHASSIGNMENT,0.50,Extra\n"
                     f"{refused.assignment_id},0.50,Extra\n")
    unpaid = hits("bonus", "--csv", str(table), "--yes")
    assert unpaid.exit_code == 1
    assert "failed NOSUCHASSIGNMENT: MTurk refused get_assignment" in unpaid.output
    assert "skip NOSUCHASSIGNMENT" not in unpaid.output
    assert f"failed {refused.assignment_id}: MTurk refused send_bonus" in unpaid.output
    sim.faults.refuse = {}
    by_csv = hits("bonus", "--csv", str(table), "--yes")
    assert by_csv.exit_code == 1 and "Summary: 1 paid now" in by_csv.output
    assert "failed NOSUCHASSIGNMENT" in by_csv.output and "does not exist" in by_csv.output
    assert len(sim.bonuses) == 3 and sim.bonuses[-1].amount == Decimal("0.50")


def test_exclude_previous_and_sync_go_on_past_a_refused_id(hits, sim, app, created_hit, work):
    first = created_hit("open", "--assignments", "2")
    second = created_hit("open", "--round", "2", "--assignments", "2")
    kept, refused = work(first, slug="open"), work(second, slug="open")
    sim.assignments[kept.assignment_id].status = "Approved"
    sim.assignments[refused.assignment_id].status = "Approved"
    sim.faults.refuse = {refused.worker_id: "AWS.MechanicalTurk.InvalidParameterValue"}
    excluded = hits("exclude-previous", "open")
    assert excluded.exit_code == 1
    assert f"failed {refused.worker_id}: MTurk refused associate_qualification" \
        in excluded.output
    assert "1 workers added, 0 already had it, 1 failed" in excluded.output
    assert {worker for _, worker in sim.worker_qualifications} == {kept.worker_id}
    sim.faults.refuse = {first: "AWS.MechanicalTurk.HITDoesNotExist"}
    sync = hits("sync")
    assert sync.exit_code == 1
    assert f"failed {first}: MTurk refused get_hit" in sync.output
    assert "Synced 1 of 2 HIT(s): 1 approved." in sync.output
    assert run_status(app, refused.run_id) == RunStatus.APPROVED
    assert run_status(app, kept.run_id) == RunStatus.COMPLETED
    [type_id] = sim.qualification_types  # a qualification type MTurk refuses: runs still sync
    sim.faults.refuse = {type_id: "AWS.MechanicalTurk.QualificationTypeDoesNotExist"}
    sim.assignments[kept.assignment_id].status = "Rejected"
    refreshed = hits("sync")
    assert refreshed.exit_code == 1 and f"failed {type_id}: MTurk refused" in refreshed.output
    assert "Synced 2 of 2 HIT(s): 1 rejected." in refreshed.output
    assert run_status(app, kept.run_id) == RunStatus.REJECTED
