"""flask researchers ... and flask export ...: plain functions behind click, clear errors."""

from __future__ import annotations

import csv
import json

from experiment_host.models import RunStatus
from tests.researcher.support import PASSWORD, log_in


def invoke(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_add_list_set_password_remove(app, client):
    added = invoke(app, "researchers", "add", "grace", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert "grace" in invoke(app, "researchers", "list").output
    assert log_in(client, "grace").status_code == 303
    again = invoke(app, "researchers", "add", "grace", "--password", PASSWORD)
    assert again.exit_code == 1 and "already exists" in again.output
    short = invoke(app, "researchers", "set-password", "grace", "--password", "short")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    changed = invoke(app, "researchers", "set-password", "grace", "--password", "new password 1")
    assert changed.exit_code == 0
    assert client.get("/researcher/").status_code == 401  # the old session ended
    assert invoke(app, "researchers", "remove", "grace", "--yes").exit_code == 0
    missing = invoke(app, "researchers", "remove", "grace", "--yes")
    assert missing.exit_code == 1 and "no researcher called 'grace'" in missing.output


def test_no_account_exists_by_default(app):
    assert "No researchers yet" in invoke(app, "researchers", "list").output


def test_token_print_use_list_revoke(app, client):
    invoke(app, "researchers", "add", "grace", "--password", PASSWORD)
    result = invoke(app, "researchers", "token", "grace")
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert token.startswith("ehr_") and "\n" not in token
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/researcher/", headers=headers).status_code == 200
    listing = invoke(app, "researchers", "tokens", "grace").output
    assert token[:10] in listing and "active" in listing and token not in listing
    token_id = listing.split("\t")[0]
    usage = invoke(app, "researchers", "revoke-token", "grace")
    assert usage.exit_code == 2
    assert invoke(app, "researchers", "revoke-token", "grace", token_id).exit_code == 0
    assert client.get("/researcher/", headers=headers).status_code == 401
    twice = invoke(app, "researchers", "revoke-token", "grace", token_id)
    assert twice.exit_code == 1 and "no active token" in twice.output


def test_export_commands(app, seed, tmp_path):
    seed(data=[{"rt": 1, "answer": "=1+1"}, {"rt": 2, "more": {"x": 1}}], worker="AW9")
    seed(data=[{"rt": 3}], status=RunStatus.RETURNED, condition="B")
    target = tmp_path / "trials.csv"
    result = invoke(app, "export", "trials", "basic", "-o", str(target), "--status", "completed",
                    "--worker-ids", "raw")
    assert result.exit_code == 0, result.output
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [r["rt"] for r in rows] == ["1", "2"] and rows[0]["answer"] == "'=1+1"
    assert rows[1]["more.x"] == "1" and rows[0]["worker_id"] == "AW9"
    runs = invoke(app, "export", "runs", "basic", "--no-escape-formulas")
    assert runs.exit_code == 0 and runs.stdout.count("\n") == 3
    jsonl = invoke(app, "export", "jsonl", "basic", "--since", "2026-05-01T00:00:00Z")
    assert [json.loads(line)["data"]["rt"] for line in jsonl.stdout.splitlines()] == [1, 2, 3]


def test_export_command_errors(app):
    unknown = invoke(app, "export", "trials", "nope")
    assert unknown.exit_code == 1 and "There is no experiment 'nope'" in unknown.output
    bad = invoke(app, "export", "trials", "basic", "--since", "yesterday")
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
