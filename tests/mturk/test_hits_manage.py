"""``flask hits expire / extend / delete / exclude-previous / notify / sync``."""

from __future__ import annotations

from datetime import timedelta

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, utcnow
from experiment_host.simulator.state import now


def statuses(app, *run_ids):
    with app.app_context():
        return [db.session.get(Run, run_id).status for run_id in run_ids]


def test_expire_then_delete_after_review(hits, sim, created_hit, work):
    hit_id = created_hit()
    work(hit_id)
    early = hits("delete", hit_id, "--yes")
    assert early.exit_code == 1
    assert "Assignable" in early.output and "flask hits expire" in early.output
    assert hits("expire", hit_id, "--yes").exit_code == 0
    assert sim.hits[hit_id].expires_at <= now()
    unreviewed = hits("delete", hit_id, "--yes")
    assert unreviewed.exit_code == 1 and "1 unreviewed" in unreviewed.output
    hits("approve", hit_id, "--yes")
    deleted = hits("delete", hit_id, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert hit_id not in sim.hits
    assert hits("list").output.count(hit_id) == 0


def test_extend_respects_the_nine_to_ten_limit(hits, sim, created_hit):
    hit_id = created_hit("basic", "--assignments", "5")
    refused = hits("extend", hit_id, "--add", "5", "--yes")
    assert refused.exit_code == 1 and "fewer than 10 to 10 or more" in refused.output
    assert sim.hits[hit_id].max_assignments == 5
    before = sim.hits[hit_id].expires_at
    result = hits("extend", hit_id, "--add", "4", "--hours", "24", "--yes")
    assert result.exit_code == 0, result.output
    assert "$3.60 incl. fee" in result.output
    assert sim.hits[hit_id].max_assignments == 9
    assert sim.hits[hit_id].expires_at >= before + timedelta(hours=23.9)


def test_extend_retry_after_lost_response_adds_once(hits, sim, created_hit):
    hit_id = created_hit("basic", "--assignments", "2")
    sim.faults.lose_next = 1
    sim.faults.operations = frozenset({"CreateAdditionalAssignmentsForHIT"})
    result = hits("extend", hit_id, "--add", "3", "--yes")
    assert result.exit_code == 0, result.output
    assert "(already added)" in result.output
    assert sim.hits[hit_id].max_assignments == 5


def test_unknown_hit_is_a_clear_error(hits):
    result = hits("extend", "NOSUCHHIT", "--hours", "1", "--yes")
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_exclude_previous_marks_workers_quietly_and_blocks_them(hits, sim, app, created_hit,
                                                                work):
    first = created_hit("open", "--assignments", "2")
    old = work(first, slug="open")
    result = hits("exclude-previous", "open")
    assert result.exit_code == 0, result.output
    [type_id] = sim.qualification_types
    assert (type_id, old.worker_id) in sim.worker_qualifications
    assert not sim.notifications  # associated without notifying
    second = created_hit("open", "--round", "2", "--exclude-previous")
    [requirement] = sim.hits[second].qualification_requirements
    assert requirement == {"QualificationTypeId": type_id, "Comparator": "DoesNotExist",
                           "ActionsGuarded": "DiscoverPreviewAndAccept"}
    try:
        sim.accept(second, old.worker_id)
        raise AssertionError("an earlier participant could accept the new HIT")
    except LookupError as refused:
        assert "qualification" in str(refused)
    again = hits("exclude-previous", "open")
    assert "0 workers added, 1 already had it" in again.output


def test_notify_reports_partial_failures(hits, sim, created_hit, work):
    hit_id = created_hit()
    worked = work(hit_id)
    result = hits("notify", worked.worker_id, "ANEVERWORKED", "--subject", "Thanks",
                  "--message", "Bonus on its way", "--yes")
    assert result.exit_code == 0, result.output
    assert "not sent to ANEVERWORKED: HardFailure" in result.output
    assert "Sent to 1 of 2 worker(s)." in result.output
    assert sim.notifications == [{"WorkerId": worker_id, "Subject": "Thanks",
                                  "MessageText": "Bonus on its way"}
                                 for worker_id in [worked.worker_id]]
    by_hit = hits("notify", "--hit", hit_id, "--subject", "S", "--message", "M", "--yes")
    assert "Sent to 1 of 1" in by_hit.output


def test_notify_sends_at_most_100_per_call(hits, sim, created_hit):
    created_hit()
    many = [f"AW{n:012d}" for n in range(150)]
    result = hits("notify", *many, "--subject", "S", "--message", "M", "--yes")
    assert result.exit_code == 0, result.output
    assert sim.calls["NotifyWorkers"] == 2
    assert "Sent to 0 of 150" in result.output


def test_sync_pulls_mturk_states_into_runs(hits, sim, app, created_hit, work):
    hit_id = created_hit("open", "--assignments", "5", "--batches")
    approved, rejected, submitted = (work(hit_id, slug="open") for _ in range(3))
    returned = work(hit_id, slug="open", complete=False, submit=False)
    gone = work(hit_id, slug="open", complete=False, submit=False)
    sim.assignments[approved.assignment_id].status = "Approved"
    sim.assignments[rejected.assignment_id].status = "Rejected"
    sim.return_assignment(returned.assignment_id)
    sim.return_assignment(gone.assignment_id)
    with app.app_context():  # this worker vanished long ago: the assignment timed out
        db.session.get(Run, gone.run_id).last_seen_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    sim.hits[hit_id].expires_at = now()  # the HIT is over: nothing is pending any more
    result = hits("sync")
    assert result.exit_code == 0, result.output
    assert statuses(app, approved.run_id, rejected.run_id, submitted.run_id,
                    returned.run_id, gone.run_id) == [
        RunStatus.APPROVED, RunStatus.REJECTED, RunStatus.SUBMITTED, RunStatus.RETURNED,
        RunStatus.ABANDONED]
    assert "1 abandoned, 1 approved, 1 rejected, 1 returned, 1 submitted" in result.output
    assert "Exclusion qualifications: 5 workers added" in result.output  # --batches made one
    assert "no changes" in hits("sync").output
