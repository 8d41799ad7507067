"""runs.csv says which bonus is which: what the task recorded, and what ``flask hits bonus``
paid (from the runs, or from a CSV), read from the payments' ledger."""

from __future__ import annotations

import csv
import io


def runs_csv(app, *options: str) -> dict[str, dict[str, str]]:
    """``flask export runs basic`` by session key (the assignment id)."""
    result = app.test_cli_runner().invoke(args=["export", "runs", "basic", "--worker-ids",
                                                "raw", *options])
    assert result.exit_code == 0, result.output
    text = result.output[result.output.index("run_id"):]
    return {row["session_key"]: row for row in csv.DictReader(io.StringIO(text))}


def test_runs_csv_shows_bonus_recorded_and_paid_by_runs_and_by_csv(app, client, hits, sim,
                                                                   created_hit, work,
                                                                   tmp_path):
    hit_id = created_hit("basic", "--assignments", "3")
    recorded, listed, unpaid = work(hit_id), work(hit_id), work(hit_id)
    for worked, amount in ((recorded, "0.30"), (unpaid, "0.20")):
        answer = client.post("/api/bonus", json={"token": worked.token, "amount": amount,
                                                 "reason": "Accurate"})
        assert answer.status_code == 200
    for worked in (recorded, listed):
        sim.assignments[worked.assignment_id].status = "Approved"
    by_runs = hits("bonus", hit_id, "--yes")
    assert "Summary: 1 paid now" in by_runs.output, by_runs.output
    table = tmp_path / "bonuses.csv"
    table.write_text(f"assignment_id,amount,reason\n{listed.assignment_id},0.45,Extra\n")
    by_csv = hits("bonus", "--csv", str(table), "--yes")
    assert "Summary: 1 paid now" in by_csv.output, by_csv.output
    rows = runs_csv(app)
    assert [(rows[w.assignment_id]["bonus_recorded_cents"],
             rows[w.assignment_id]["bonus_paid_cents"]) for w in (recorded, listed, unpaid)] == [
        ("30", "30"), ("", "45"), ("20", "0")]
    assert {row["outcome"] for row in rows.values()} == {"completed"}
    assert len(runs_csv(app, "--completed-only")) == 3
    assert runs_csv(app, "--outcome", "screened_out") == {}
