"""``flask prolific approve / reject / bonus / bonus-resolve / sync / message`` against the
simulator: money follows verified data, and no bonus is ever paid twice under any injected
fault or repeated command (asserted on the simulator's ledger of payments)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.prolific.models import BonusState, ProlificBonus
from tests.conftest import run_by_id
from tests.prolific.conftest import faults

REASON = ("We could not find any data from your session: our server received no responses "
          "for your submission, so we cannot accept it.")


def paid_per_submission(sim):
    return Counter(p["submission_id"] for p in sim.payments)


def test_approve_only_submissions_with_complete_data(prolific, created_study, take, sim, app):
    study_id = created_study()
    good = take(study_id)
    no_data = take(study_id, n_records=0, complete=False)
    incomplete = take(study_id, complete=False)
    forged = take(study_id, run_participant="f" * 24)  # the run is someone else's
    dry = prolific("approve", study_id, "--dry-run")
    assert "1 submission(s) to approve" in dry.output
    assert sim.submissions[good.submission_id].status == "AWAITING REVIEW"
    result = prolific("approve", study_id, "--yes")
    assert result.exit_code == 0, result.output
    assert f"skip {no_data.submission_id}" in result.output
    assert f"skip {incomplete.submission_id}" in result.output
    assert f"skip {forged.submission_id}" in result.output and "mismatch" in result.output
    statuses = {k: s.status for k, s in sim.submissions.items()}
    assert statuses[good.submission_id] == "APPROVED"
    assert [s for s in statuses.values() if s == "APPROVED"] == ["APPROVED"]
    assert run_by_id(app, good.run_id).status == RunStatus.APPROVED
    again = prolific("approve", study_id, "--yes")
    assert again.exit_code == 0 and "0 submission(s) to approve" in again.output


def test_approve_survives_faults(prolific, created_study, take, sim, simulator):
    study_id = created_study()
    took = [take(study_id) for _ in range(3)]
    faults(simulator, throttle_next=1, lose_next=1, paths=["bulk-approve"])
    result = prolific("approve", "--all", "--yes")
    assert result.exit_code == 0, result.output
    assert {sim.submissions[t.submission_id].status for t in took} == {"APPROVED"}


def test_reject_only_what_is_named_with_category(prolific, created_study, take, sim):
    study_id = created_study()
    named, other = take(study_id), take(study_id)
    short = prolific("reject", named.submission_id, "--category", "NO_DATA", "--message", "no",
                     "--yes")
    assert short.exit_code == 2 and "at least 100 characters" in short.output
    result = prolific("reject", named.submission_id, "--category", "LOW_EFFORT",
                      "--message", REASON, "--yes")
    assert result.exit_code == 0, result.output
    assert sim.submissions[named.submission_id].status == "REJECTED"
    assert sim.submissions[other.submission_id].status == "AWAITING REVIEW"


def test_reject_no_data_spares_submissions_with_records(prolific, created_study, take, sim, app):
    study_id = created_study()
    with_data = take(study_id)
    empty = take(study_id, n_records=0, complete=False)
    result = prolific("reject", "--no-data", study_id, "--category", "NO_DATA",
                      "--message", REASON, "--yes")
    assert result.exit_code == 0, result.output
    assert sim.submissions[empty.submission_id].status == "REJECTED"
    assert sim.submissions[with_data.submission_id].status == "AWAITING REVIEW"
    assert run_by_id(app, empty.run_id).status == RunStatus.REJECTED


def _approved_with_bonuses(prolific, created_study, take, count=3, bonus="0.25"):
    study_id = created_study()
    took = [take(study_id, bonus=bonus) for _ in range(count)]
    assert prolific("approve", study_id, "--yes").exit_code == 0
    return study_id, took


def test_bonus_pays_each_once_and_reruns_pay_nothing(prolific, created_study, take, sim):
    study_id, took = _approved_with_bonuses(prolific, created_study, take)
    unapproved = take(study_id, bonus="0.30")
    result = prolific("bonus", study_id, "--yes")
    assert result.exit_code == 0, result.output
    assert f"skip {unapproved.submission_id}: not approved" in result.output
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}
    assert {p["cents"] for p in sim.payments} == {25}
    again = prolific("bonus", study_id, "--yes")
    assert again.exit_code == 0 and "already paid" in again.output
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}


def test_bonus_setup_faults_are_retried_and_pay_once(prolific, created_study, take, sim,
                                                     simulator):
    study_id, took = _approved_with_bonuses(prolific, created_study, take)
    faults(simulator, throttle_next=1, fail_next=1, lose_next=1, paths=["bonus-payments/"])
    result = prolific("bonus", study_id, "--yes")
    assert result.exit_code == 0, result.output
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}


def test_throttled_pay_is_retried_once_paid(prolific, created_study, take, sim, simulator):
    study_id, took = _approved_with_bonuses(prolific, created_study, take)
    faults(simulator, throttle_next=2, paths=["/pay/"])
    assert prolific("bonus", study_id, "--yes").exit_code == 0
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}


def test_lost_pay_answer_never_pays_twice_and_resolves(prolific, created_study, take, sim,
                                                       simulator, app):
    study_id, took = _approved_with_bonuses(prolific, created_study, take)
    faults(simulator, lose_next=1, paths=["/pay/"])
    lost = prolific("bonus", study_id, "--yes")
    assert lost.exit_code == 1 and "unknown 3" in lost.output and "bonus-resolve" in lost.output
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}
    rerun = prolific("bonus", study_id, "--yes")
    assert "payment state unknown" in rerun.output
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}
    resolved = prolific("bonus-resolve", study_id)
    assert "Confirmed paid 3" in resolved.output, resolved.output
    assert prolific("bonus", study_id, "--yes").exit_code == 0
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}


def test_failed_pay_answer_is_unknown_and_unpaid_may_be_paid_after_resolving(
        prolific, created_study, take, sim, simulator, app):
    study_id, took = _approved_with_bonuses(prolific, created_study, take, count=2)
    faults(simulator, fail_next=1, paths=["/pay/"])  # 500 before paying: nothing paid
    failed = prolific("bonus", study_id, "--yes")
    assert failed.exit_code == 1 and sim.payments == []
    unsure = prolific("bonus-resolve", study_id)
    assert "still unknown 2" in unsure.output and sim.payments == []
    reopened = prolific("bonus-resolve", study_id, "--unpaid")
    assert "made payable again 2" in reopened.output
    assert prolific("bonus", study_id, "--yes").exit_code == 0
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}


def test_crash_between_set_up_and_pay_never_pays_twice(prolific, created_study, take, sim, app,
                                                       monkeypatch):
    study_id, took = _approved_with_bonuses(prolific, created_study, take, count=2)
    from experiment_host.prolific import bonuses

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the ledger said PAYING

    real = bonuses.in_parallel
    calls = iter(range(2))

    def second_step_crashes(items, work, workers, tick):
        if next(calls) == 1:
            crash()
        return real(items, work, workers, tick)

    monkeypatch.setattr(bonuses, "in_parallel", second_step_crashes)
    prolific("bonus", study_id, "--yes")
    monkeypatch.setattr(bonuses, "in_parallel", real)
    assert sim.payments == [] and len(sim.bulk_bonuses) == 1
    with app.app_context():
        states = set(db.session.scalars(select(ProlificBonus.state)))
    assert states == {BonusState.PAYING}
    rerun = prolific("bonus", study_id, "--yes")
    assert sim.payments == [] and "payment state unknown" in rerun.output
    prolific("bonus-resolve", study_id, "--unpaid")
    assert prolific("bonus", study_id, "--yes").exit_code == 0
    assert paid_per_submission(sim) == {t.submission_id: 1 for t in took}


def test_bonus_csv_within_max_bonus(prolific, created_study, take, sim, tmp_path):
    study_id, took = _approved_with_bonuses(prolific, created_study, take, count=2, bonus=None)
    sheet = tmp_path / "bonuses.csv"
    sheet.write_text("submission_id,amount,reason\n"
                     f"{took[0].submission_id},0.40,Great\n{took[1].submission_id},0.90,Too much\n")
    result = prolific("bonus", study_id, "--csv", str(sheet), "--yes")
    assert result.exit_code == 0, result.output
    assert "above the experiment's max_bonus 0.50" in result.output
    assert sim.payments == [{"bulk_id": sim.payments[0]["bulk_id"],
                             "submission_id": took[0].submission_id,
                             "participant_id": took[0].participant_id, "cents": 40}]
    bad = tmp_path / "bad.csv"
    bad.write_text("submission_id,amount,reason\nx,abc,r\n")
    refused = prolific("bonus", study_id, "--csv", str(bad), "--yes")
    assert refused.exit_code == 1 and "line 2" in refused.output


def test_sync_frees_quota_places_of_returned_and_timed_out(prolific, created_study, take, sim,
                                                           app):
    study_id = created_study()
    returned = take(study_id, complete=False, come_back=False)
    timed_out = take(study_id, complete=False, come_back=False)
    done = take(study_id)
    sim.submissions[returned.submission_id].status = "RETURNED"
    sim.submissions[timed_out.submission_id].status = "TIMED-OUT"
    result = prolific("sync", study_id)
    assert result.exit_code == 0, result.output
    assert run_by_id(app, returned.run_id).status == RunStatus.RETURNED
    assert run_by_id(app, timed_out.run_id).status == RunStatus.ABANDONED
    assert run_by_id(app, done.run_id).status == RunStatus.SUBMITTED
    sim.submissions[done.submission_id].status = "APPROVED"
    prolific("sync", "--all")
    assert run_by_id(app, done.run_id).status == RunStatus.APPROVED
    with app.app_context():
        counted = db.session.scalars(select(Run.status).where(
            Run.status.in_(RunStatus.COUNTED))).all()
    assert counted == [RunStatus.APPROVED]


def test_message_is_not_resent(prolific, created_study, take, sim, simulator):
    study_id = created_study()
    took = [take(study_id) for _ in range(2)]
    first = prolific("message", study_id, "--body", "Thanks!", "--yes")
    assert first.exit_code == 0 and "Sent to 2" in first.output
    assert sorted(m["participant_id"] for m in sim.messages) == sorted(
        t.participant_id for t in took)
    again = prolific("message", study_id, "--body", "Thanks!", "--yes")
    assert "0 participant(s) to message (2 already sent)" in again.output
    assert len(sim.messages) == 2
    late = take(study_id)
    faults(simulator, lose_next=1, paths=["messages"])
    prolific("message", study_id, "--body", "Thanks!", "--yes")
    prolific("message", study_id, "--body", "Thanks!", "--yes")
    assert [m["participant_id"] for m in sim.messages].count(late.participant_id) == 1
