"""Entry, preview, consent, resume, repeat rule, screening and the done page."""

from __future__ import annotations

from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Run, RunStatus
from tests.conftest import SIM_ORIGIN
from tests.helpers import records, save_and_complete, task_config

PREVIEW = {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "HIT1"}


def count_runs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Run))


def test_preview_shows_task_and_creates_nothing(client, app):
    response = client.get("/exp/basic", query_string=PREVIEW)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Basic test experiment" in html and "$0.75" in html and "Accept the HIT" in html
    assert "experiment-host-config" not in html and "token" not in html
    assert count_runs(app) == 0
    with app.app_context():
        assert db.session.get(ExperimentRow, "basic").previews == 1


def test_preview_without_other_parameters(client, app):
    response = client.get("/exp/basic?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    assert response.status_code == 200
    assert count_runs(app) == 0


def test_unknown_experiment_is_404_page(client):
    response = client.get("/exp/nope", query_string=PREVIEW)
    assert response.status_code == 404
    assert b"<h1>" in response.data


def test_accept_shows_consent_then_task(client, app, mturk_args):
    args = mturk_args()
    response = client.get("/exp/basic", query_string=args)
    assert response.status_code == 200
    assert b"You agree to <em>test</em> things." in response.data
    assert b"experiment-host-config" not in response.data
    token = response.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    response = client.post("/exp/basic/consent", data={"token": token, "decision": "agree"})
    assert response.status_code == 303
    response = client.get(response.headers["Location"])
    config = task_config(response.data)
    assert config["run"]["condition"] in ("A", "B")
    assert config["run"]["next_seq"] == 0
    assert b'<base href="/exp/basic/files/">' in response.data
    assert response.data.index(b"experiment-host-config") < response.data.index(b"<title>")
    assert count_runs(app) == 1


def test_worker_flow_sets_no_cookies(client, mturk_args, start_run):
    response = client.get("/exp/basic", query_string=mturk_args())
    assert "Set-Cookie" not in response.headers
    config = start_run()
    save = client.post("/api/records", json={"token": config["token"], "records": records(0, 1)})
    assert "Set-Cookie" not in save.headers


def test_declining_consent_frees_the_place(client, app, mturk_args):
    args = mturk_args()
    page = client.get("/exp/basic", query_string=args)
    token = page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    response = client.post("/exp/basic/consent", data={"token": token, "decision": "decline"},
                           follow_redirects=True)
    assert b"chose not to take part" in response.data
    with app.app_context():
        assert db.session.scalars(select(Run.status)).one() == RunStatus.DECLINED


def test_consent_with_forged_token_changes_nothing(client, app, mturk_args):
    client.get("/exp/basic", query_string=mturk_args())
    response = client.post("/exp/basic/consent", data={"token": "forged", "decision": "agree"})
    assert response.status_code == 401
    with app.app_context():
        assert db.session.scalars(select(Run.consented_at)).one() is None


def test_reload_resumes_same_run_with_saved_trials(client, app, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(0, 4)})
    again = task_config(client.get("/exp/basic", query_string=config["args"]).data)
    assert again["run"]["id"] == config["run"]["id"]
    assert again["run"]["next_seq"] == 4 and again["run"]["saved"] == 4
    assert again["run"]["condition"] == config["run"]["condition"]
    assert count_runs(app) == 1


def test_worker_cannot_take_part_twice(client, app, start_run, mturk_args):
    config = start_run(workerId="AREPEAT0000001")
    save_and_complete(client, config["token"])
    with app.app_context():
        run = db.session.get(Run, config["run"]["id"])
        run.status = RunStatus.SUBMITTED
        db.session.commit()
    response = client.get("/exp/basic", query_string=mturk_args(workerId="AREPEAT0000001"))
    assert response.status_code == 403
    assert b"return the HIT" in response.data
    assert count_runs(app) == 1


def test_new_assignment_does_not_take_over_a_run_in_progress(client, app, start_run,
                                                             mturk_args):
    first = start_run(workerId="ARETURN0000001")
    client.post("/api/records", json={"token": first["token"], "records": records(0, 3)})
    second_args = mturk_args(workerId="ARETURN0000001")
    page = client.get("/exp/basic", query_string=second_args)
    assert page.status_code == 409
    assert b"already open under another assignment" in page.data
    assert b"experiment-host-config" not in page.data
    with app.app_context():
        run = db.session.get(Run, first["run"]["id"])
        assert run.session_key == first["args"]["assignmentId"]
    still = client.post("/api/records", json={"token": first["token"], "records": records(3, 4)})
    assert still.status_code == 200 and still.get_json()["saved"] == 4


def test_repeats_allowed_make_new_runs(client, app, start_run):
    first = start_run("open", workerId="AREPEATER00001")
    save_and_complete(client, first["token"])
    second = start_run("open", workerId="AREPEATER00001")
    assert second["run"]["id"] != first["run"]["id"]
    with app.app_context():
        attempts = db.session.scalars(select(Run.attempt).order_by(Run.attempt)).all()
    assert attempts == [1, 2]


def test_turk_submit_to_outside_allow_list_is_refused(client, app, mturk_args):
    for bad in ("https://evil.example", "https://www.mturk.com.evil.example",
                "https://www.mturk.com/x", "javascript:alert(1)", "https://user@www.mturk.com"):
        response = client.get("/exp/basic", query_string=mturk_args(turkSubmitTo=bad))
        assert response.status_code == 400, bad
        assert b"turkSubmitTo" in response.data
    preview = client.get("/exp/basic", query_string={**PREVIEW, "turkSubmitTo": "https://evil.example"})
    assert preview.status_code == 400
    assert count_runs(app) == 0


def test_trailing_slash_on_turk_submit_to_is_stripped(client, app, start_run):
    config = start_run(turkSubmitTo="https://www.mturk.com/")
    save_and_complete(client, config["token"])
    done = client.get(config["done_url"])
    assert b'action="https://www.mturk.com/mturk/externalSubmit"' in done.data


def test_missing_ids_are_refused(client, app, mturk_args):
    for missing in ("workerId", "hitId", "turkSubmitTo"):
        args = mturk_args()
        del args[missing]
        response = client.get("/exp/basic", query_string=args)
        assert response.status_code == 400, missing
        assert missing.encode() in response.data
    response = client.get("/exp/basic", query_string=mturk_args(workerId="bad id<script>"))
    assert response.status_code == 400
    assert count_runs(app) == 0


def test_done_page_posts_externalsubmit_only_when_complete(client, app, start_run):
    config = start_run()
    early = client.get(config["done_url"])
    assert early.status_code == 409
    assert b"externalSubmit" not in early.data
    client.post("/api/records", json={"token": config["token"], "records": records(0, 2)})
    completed = client.post("/api/complete", json={"token": config["token"], "total": 2}).get_json()
    done = client.get(completed["done_url"])
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    assert 'method="post" action="https://workersandbox.mturk.com/mturk/externalSubmit"' in html
    assert f'name="assignmentId" value="{config["args"]["assignmentId"]}"' in html
    assert f'name="completionCode" value="{completed["completion_code"]}"' in html
    assert 'id="submit-hit-button"' in html and "auto-submit.js" in html
    # Reloading the entry URL after completion shows the done page again.
    again = client.get("/exp/basic", query_string=config["args"])
    assert b"externalSubmit" in again.data


def test_worker_pages_frame_policy(client, mturk_args):
    response = client.get("/exp/basic", query_string=mturk_args())
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors " in policy and "script-src 'self'" in policy
    for origin in ("https://worker.mturk.com", "https://workersandbox.mturk.com",
                   "https://www.mturk.com", SIM_ORIGIN):
        assert origin in policy
    assert "X-Frame-Options" not in response.headers
    api = client.post("/api/heartbeat", data="{}")
    assert "X-Frame-Options" not in api.headers


def test_full_experiment_says_so(client, app, start_run, mturk_args):
    start_run("solo")
    start_run("solo")
    response = client.get("/exp/solo", query_string=mturk_args())
    assert response.status_code == 409
    assert b"full" in response.data
    assert count_runs(app) == 2


def test_screening_blocks_mobile_and_other_browsers(client, app, mturk_args):
    iphone = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    safari = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like "
              "Gecko) Version/17.0 Safari/605.1.15")
    chrome = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0 Safari/537.36")
    assert client.get("/exp/screened", query_string=mturk_args(),
                      headers={"User-Agent": iphone}).status_code == 403
    assert client.get("/exp/screened", query_string=mturk_args(),
                      headers={"User-Agent": safari}).status_code == 403
    assert count_runs(app) == 0
    ok = client.get("/exp/screened", query_string=mturk_args(), headers={"User-Agent": chrome})
    assert ok.status_code == 200 and count_runs(app) == 1


def test_a_user_agent_holding_nul_is_stored_without_it(app, client, mturk_args):
    # gunicorn refuses such a header; a server in front that passes it must not make
    # PostgreSQL's text refuse the new run.
    page = client.get("/exp/basic", query_string=mturk_args(),
                      headers={"User-Agent": "Mozilla/5.0\x00 X\xff"})
    assert page.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Run.user_agent)) == "Mozilla/5.0 X\xff"


def test_experiment_files_and_config_hidden(client):
    with client.get("/exp/basic/files/task.js") as asset:
        assert asset.status_code == 200 and b"basicTaskLoaded" in asset.data
    assert client.get("/exp/basic/files/experiment.toml").status_code == 404
    assert client.get("/exp/basic/files/../open/task.html").status_code == 404
    assert client.get("/vendor/../pyproject.toml").status_code == 404
    assert client.get("/vendor/flask/app.py").status_code == 404


def test_prolific_flow_redirects_with_completion_code(client, app):
    args = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "S1", "SESSION_ID": "SESS1"}
    config = task_config(client.get("/exp/open", query_string=args).data)
    save_and_complete(client, config["token"])
    done = client.get(config["done_url"])
    assert b"https://app.prolific.com/submissions/complete?cc=PROLIFIC123" in done.data
    not_set_up = client.get("/exp/basic", query_string=args)
    assert not_set_up.status_code == 400


def test_plain_link_gets_a_participant_id_and_resumes(client, app):
    first = client.get("/exp/open")
    assert first.status_code == 303
    location = first.headers["Location"]
    assert "participant=P" in location
    config = task_config(client.get(location).data)
    again = task_config(client.get(location).data)
    assert again["run"]["id"] == config["run"]["id"]
    save_and_complete(client, again["token"])
    done = client.get(again["done_url"])
    assert b"FIXEDCODE" in done.data


def test_content_security_policies(client, start_run):
    config = start_run()
    task = client.get("/exp/basic", query_string=config["args"])
    assert "style-src 'self' 'unsafe-inline'" in task.headers["Content-Security-Policy"]
    script_policy = task.headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in script_policy
    latest = task_config(task.data)
    save_and_complete(client, latest["token"])
    done = client.get(latest["done_url"]).headers["Content-Security-Policy"]
    assert "form-action 'self' https://www.mturk.com https://workersandbox.mturk.com" in done
    api = client.post("/api/heartbeat", json={"token": latest["token"]}).headers
    assert api["Content-Security-Policy"].startswith("default-src 'none'")
    assert api["Cache-Control"] == "no-store" and api["Referrer-Policy"] == "no-referrer"


def test_non_worker_pages_deny_framing(client):
    response = client.get("/healthz")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_scripts_are_compressed_and_cacheable(client):
    with client.get("/static/js/experiment-host.js", headers={"Accept-Encoding": "gzip"}) as js:
        assert js.status_code == 200
        assert js.headers["Content-Encoding"] == "gzip"
        assert "max-age=300" in js.headers["Cache-Control"]
        etag = js.headers["ETag"]
    with client.get("/static/js/experiment-host.js",
                    headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}) as again:
        assert again.status_code == 304
    with client.get("/exp/basic/files/task.js") as asset:
        assert "max-age=300" in asset.headers["Cache-Control"]


def test_pages_are_compressed_and_the_data_apis_answers_left_alone(client, start_run):
    config = start_run()
    gzip = {"Accept-Encoding": "gzip, br"}
    page = client.get("/exp/basic", query_string=config["args"], headers=gzip)
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in page.headers["Vary"]
    config = start_run()  # the page just served supersedes the first one's token
    saved = client.post("/api/records", headers=gzip,
                        json={"token": config["token"], "records": records(0, 200)})
    read = client.get("/api/records", headers=gzip, query_string={"token": config["token"]})
    for answer in (saved, read):
        assert answer.status_code == 200
        assert "Content-Encoding" not in answer.headers and "Vary" not in answer.headers
    assert len(read.get_json()["records"]) == 200
