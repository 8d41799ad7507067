"""``--dry-run`` on expire / extend / delete / notify changes nothing; ``bonus --csv`` checks
the whole file and names every bad row by its line before paying anything."""

from __future__ import annotations


def test_dry_runs_change_nothing(hits, sim, created_hit, work):
    hit_id = created_hit("basic", "--assignments", "2")
    worked = work(hit_id)
    expires = sim.hits[hit_id].expires_at
    expire = hits("expire", hit_id, "--dry-run")
    assert expire.exit_code == 0 and "Dry run: would expire 1 HIT(s)" in expire.output
    extend = hits("extend", hit_id, "--add", "3", "--hours", "5", "--dry-run")
    assert extend.exit_code == 0 and "+3 assignments" in extend.output
    assert "Dry run: nothing changed." in extend.output
    delete = hits("delete", hit_id, "--dry-run")
    assert delete.exit_code == 0 and "Dry run: would delete 1 HIT(s)" in delete.output
    assert "MTurk deletes only a Reviewable HIT" in delete.output
    notify = hits("notify", "--hit", hit_id, "--subject", "Hi", "--message", "M", "--dry-run")
    assert notify.exit_code == 0 and worked.worker_id in notify.output
    hit = sim.hits[hit_id]
    assert (hit.expires_at, hit.max_assignments, hit.status) == (expires, 2, "Assignable")
    assert not sim.notifications
    assert not any(sim.calls[op] for op in ("UpdateExpirationForHIT", "DeleteHIT",
                                            "CreateAdditionalAssignmentsForHIT",
                                            "NotifyWorkers"))


def test_bonus_csv_reports_every_bad_row_and_pays_nothing(hits, sim, created_hit, work,
                                                          tmp_path):
    worked = work(created_hit("basic", "--assignments", "2"))
    assert hits("approve", "--all", "--yes").exit_code == 0
    table = tmp_path / "bonuses.csv"
    table.write_text("assignment_id,amount,reason\n"
                     f"{worked.assignment_id},0.30,Good\n"
                     "A2,abc,Bad amount\n"
                     "A3,0.10,\n"
                     ",0.10,no id\n", encoding="utf-8")
    result = hits("bonus", "--csv", str(table), "--yes")
    assert result.exit_code == 1
    assert "3 bad row(s), nothing paid" in result.output
    for line in (3, 4, 5):
        assert f"bonuses.csv, line {line}:" in result.output
    assert "line 2:" not in result.output and not sim.bonuses
