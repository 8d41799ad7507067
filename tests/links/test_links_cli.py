"""``flask links``: create, list, switch, QR and export, as a researcher runs them."""

from __future__ import annotations

import csv
import io

from experiment_host.extensions import db
from experiment_host.links.table import COLUMNS


def invoke(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["links", *args], input=input)


def test_create_list_switch_and_export(app, client, tmp_path):
    comments = tmp_path / "comments.csv"
    comments.write_text("Ann\n=HYPERLINK(1)\nBen\n", encoding="utf-8")
    made = invoke(app, "create", "open", "--type", "personal-single", "--comments",
                  str(comments))
    assert made.exit_code == 0, made.output
    lines = made.output.strip().splitlines()
    assert len(lines) == 3
    url, code, comment = lines[0].split("\t")
    assert comment == "Ann" and len(code) == 10 and "/l/" in url
    token = url.rsplit("/", 1)[1]

    assert client.get(f"/l/{token}").status_code == 303
    used = invoke(app, "list", "open", "--used")
    assert used.exit_code == 0 and used.output.count("\n") == 1 and code in used.output
    assert invoke(app, "list", "open", "--unused").output.count("\n") == 2

    assert invoke(app, "off", code.lower()).exit_code == 0
    assert invoke(app, "list", "open", "--off").output.count("\n") == 1
    assert invoke(app, "on", url).exit_code == 0
    assert invoke(app, "list", "open", "--off").output == ""

    exported = invoke(app, "export", "open", "-o", "-")
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 3
    assert rows[0]["run_id"] and rows[0]["used_at"] and rows[0]["type"] == "personal-single"
    assert rows[1]["comment"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[1]["run_id"] == ""


def test_qr_writes_an_svg(app, tmp_path):
    code = invoke(app, "create", "open", "--type", "general-multiple").output.split("\t")[1]
    target = tmp_path / "qr.svg"
    assert invoke(app, "qr", code, "-o", str(target)).exit_code == 0
    assert "<svg" in target.read_text()


def test_batches_and_mistakes(app):
    made = invoke(app, "batch", "open", "Lab", "--max", "5", "--type-off", "general-single",
                  "--redirect", "https://example.org/done?id={participant}")
    assert made.exit_code == 0, made.output
    listed = invoke(app, "batches", "open").output
    assert "Default" in listed and "Lab" in listed and "runs 0/5" in listed
    assert "general-single" not in listed.split("Lab")[1].split("redirect")[0]
    for args, message in (
        (("create", "nope", "--type", "personal-single"), "no experiment"),
        (("create", "open", "--type", "personal-single", "--batch", "Nope"), "no batch"),
        (("off", "ZZZZZZZZZZ"), "no link with the token"),
        (("batch", "open", "Lab", "--redirect", "javascript:alert(1)"), "https://"),
    ):
        answer = invoke(app, *args)
        assert answer.exit_code != 0 and message in answer.output, answer.output


def test_rename_a_batch(app):
    assert invoke(app, "batch", "open", "Lab").exit_code == 0
    assert invoke(app, "batch", "open", "Lab", "--rename", "Lab 2").exit_code == 0
    assert "Lab 2" in invoke(app, "batches", "open").output
    for name, args in (("Lab 2", ("--rename", "Default")), ("Default", ("--rename", "X")),
                       ("Lab 2", ("--rename", "<bad>")), ("<bad>", ())):
        answer = invoke(app, "batch", "open", name, *args)
        assert answer.exit_code != 0 and "Error" in answer.output


def test_a_refused_batch_command_creates_no_batch(app):
    # The batch is created before the later checks refuse; nothing of it may stay (on
    # SQLite a savepoint that began the transaction used to commit it on its own).
    for args in (("--redirect", "ftp://example.org"), ("--rename", "Default")):
        answer = invoke(app, "batch", "open", "Fresh", *args)
        assert answer.exit_code != 0, answer.output
        db.session.remove()  # the command's process ends: its transaction with it
        assert "Fresh" not in invoke(app, "batches", "open").output
