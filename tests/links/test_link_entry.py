"""Each link type's rules, study codes, switches, batch caps, confirm-first and the end
redirect, through the participant's pages."""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs, urlsplit

import pytest

from experiment_host.extensions import db
from experiment_host.links.models import LinkType
from experiment_host.links.store import batch_named, find_link, switch_type
from experiment_host.models import Run
from experiment_host.pilots.purging import purge_tests
from experiment_host.withdrawal import delete_runs, plan_deletion
from tests.conftest import TEST_EXPERIMENTS, build_app, dispose
from tests.helpers import save_and_complete, task_config


def enter(client, path, method="get", **kwargs):
    """Follow a link to its run's task page; return (final response, task config or None)."""
    answer = getattr(client, method)(path, **kwargs)
    if answer.status_code == 303:
        answer = client.get(answer.headers["Location"])
    is_task = answer.status_code == 200 and b"experiment-host-config" in answer.data
    return answer, task_config(answer.data) if is_task else None


def test_personal_single_resumes_and_never_starts_a_second_run(client, make_links, run_count):
    [(token, _)] = make_links("personal-single")
    first, config = enter(client, f"/l/{token}")
    assert config is not None, first.data
    _, resumed = enter(client, f"/l/{token}")
    assert resumed["run"]["id"] == config["run"]["id"]
    save_and_complete(client, resumed["token"])
    after, _ = enter(client, f"/l/{token}")
    assert after.status_code == 200 and b"FIXEDCODE" in after.data  # the done page again
    assert run_count() == 1


def test_personal_multiple_and_general_multiple_start_a_run_each_use(client, make_links,
                                                                   run_count):
    [(personal, _)] = make_links("personal-multiple")
    [(general, _)] = make_links("general-multiple")
    ids = {enter(client, f"/l/{token}")[1]["run"]["id"]
           for token in (personal, personal, general, general)}
    assert len(ids) == 4 and run_count() == 4


def test_general_link_is_one_per_batch_and_type(app, make_links):
    assert make_links("general-single") == make_links("general-single", amount=5)


def test_general_single_is_one_run_per_browser_id(client, make_links, run_count):
    [(token, _)] = make_links("general-single")
    page = client.get(f"/l/{token}")
    assert page.status_code == 200 and b'id="browser-id-form"' in page.data
    assert run_count() == 0  # nothing before the browser said who it is
    browser = "b" * 24
    _, first = enter(client, f"/l/{token}", method="post", data={"b": browser})
    _, again = enter(client, f"/l/{token}", method="post", data={"b": browser})
    _, other = enter(client, f"/l/{token}", method="post", data={"b": "c" * 24})
    assert first["run"]["id"] == again["run"]["id"] != other["run"]["id"]
    assert run_count() == 2


def test_unknown_link_is_404(client):
    assert client.get("/l/" + "x" * 24).status_code == 404
    assert client.get("/l/short").status_code == 404


def test_switched_off_link_refuses_new_runs_but_its_run_may_finish(app, client, make_links,
                                                                   run_count):
    [(started, _), (fresh, _)] = make_links("personal-single", amount=2)
    _, config = enter(client, f"/l/{started}")
    with app.app_context():
        for token in (started, fresh):
            find_link(token).active = False
        db.session.commit()
    refused = client.get(f"/l/{fresh}")
    assert refused.status_code == 403 and b"switched off" in refused.data
    _, resumed = enter(client, f"/l/{started}")
    assert resumed["run"]["id"] == config["run"]["id"]
    save_and_complete(client, resumed["token"])
    assert run_count() == 1


@pytest.mark.parametrize("switch", ["batch", "type"])
def test_switched_off_batch_or_type_refuses(app, client, make_links, switch):
    [(token, _)] = make_links("personal-multiple")
    with app.app_context():
        batch = batch_named("open", "Default")
        if switch == "batch":
            batch.active = False
        else:
            switch_type(batch, LinkType.PERSONAL_MULTIPLE, False)
        db.session.commit()
    assert client.get(f"/l/{token}").status_code == 403


def test_full_batch_refuses_the_next_participant(app, client, make_links, run_count):
    links = make_links("personal-single", amount=3, batch="Lab")
    with app.app_context():
        batch_named("open", "Lab").max_participants = 2
        db.session.commit()
    for token, _ in links[:2]:
        assert enter(client, f"/l/{token}")[1] is not None
    full = client.get(f"/l/{links[2][0]}")
    assert full.status_code == 403 and b"taken" in full.data
    assert enter(client, f"/l/{links[0][0]}")[1] is not None  # a started run still resumes
    assert run_count() == 2


def test_confirm_first_creates_nothing_before_the_click(client, make_links, run_count):
    [(token, code)] = make_links("personal-single", confirm_first=True)
    page = client.get(f"/l/{token}?participant=ABC")
    assert page.status_code == 200 and b'id="start"' in page.data
    assert b"Open experiment" in page.data
    assert b'name="participant" value="ABC"' in page.data
    by_code = client.post("/code", data={"code": code})
    assert by_code.status_code == 200 and b'id="start"' in by_code.data
    assert run_count() == 0
    _, config = enter(client, f"/l/{token}", method="post", data={"participant": "ABC"})
    assert config is not None and run_count() == 1


def test_study_code_entry(client, make_links, run_count):
    [(token, code)] = make_links("personal-single")
    assert client.get("/code").status_code == 200
    wrong = client.post("/code", data={"code": "ZZZZZZZZZZ"})
    assert wrong.status_code == 404 and b'id="code-message"' in wrong.data
    typed = f"{code[:5].lower()}-{code[5:]} "  # case, dashes and spaces do not matter
    answer, config = enter(client, "/code", method="post", data={"code": typed})
    assert config is not None, answer.data
    _, again = enter(client, f"/l/{token}")
    assert again["run"]["id"] == config["run"]["id"] and run_count() == 1


def test_switched_off_code_shows_the_form_with_403(app, client, make_links):
    [(token, code)] = make_links("personal-multiple")
    with app.app_context():
        find_link(token).active = False
        db.session.commit()
    answer = client.post("/code", data={"code": code})
    assert answer.status_code == 403 and b'id="code-message"' in answer.data


def test_wrong_codes_are_rate_limited_per_ip(app, client, make_links, rate_clock):
    [(_, code)] = make_links("personal-multiple")
    app.config["LINK_CODE_GUESSES_PER_IP_PER_HOUR"] = 3
    for _ in range(3):
        assert client.post("/code", data={"code": "WRONGCODE2"}).status_code == 404
    blocked = client.post("/code", data={"code": code})  # even the right one, for now
    assert blocked.status_code == 429
    other_ip = client.post("/code", data={"code": code},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code in (200, 303)
    rate_clock.advance(3600)
    assert client.post("/code", data={"code": code}).status_code in (200, 303)


def test_end_redirect_fills_placeholders_from_the_entry(app, client, make_links):
    [(token, _)] = make_links("personal-single", batch="SONA")
    with app.app_context():
        batch_named("open", "SONA").end_redirect_url = (
            "https://example.sona-systems.com/webstudy_credit.aspx?experiment_id=12"
            "&credit_token=abc&survey_code={participant}&run={run_id}")
        db.session.commit()
    _, config = enter(client, f"/l/{token}?participant=4711%26x")
    save_and_complete(client, config["token"])
    done = client.get(config["done_url"])
    href = done.data.split(b'id="complete-link" class="button" href="')[1].split(b'"')[0]
    url = urlsplit(href.decode().replace("&amp;", "&"))
    assert url.netloc == "example.sona-systems.com"
    assert parse_qs(url.query)["survey_code"] == ["4711&x"]
    assert parse_qs(url.query)["run"] == [str(config["run"]["id"])]


def test_link_without_redirect_shows_the_code(client, make_links):
    [(token, _)] = make_links("personal-multiple")
    _, config = enter(client, f"/l/{token}")
    save_and_complete(client, config["token"])
    assert b"FIXEDCODE" in client.get(config["done_url"]).data


@pytest.fixture
def closed_app(database_url, tmp_path):
    """An app whose 'open' experiment has not opted in to ``?participant=`` links."""
    folder = tmp_path / "experiments" / "open"
    shutil.copytree(TEST_EXPERIMENTS / "open", folder)
    toml = folder / "experiment.toml"
    toml.write_text(toml.read_text().replace("allow_open_link = true\n", ""))
    app = build_app(database_url, EXPERIMENTS_DIR=str(folder.parent))
    yield app
    dispose(app)


def test_open_participant_link_needs_the_opt_in(closed_app, run_count):
    client = closed_app.test_client()
    assert client.get("/exp/open").status_code == 403
    assert client.get("/exp/open?participant=ANYONE").status_code == 403
    with closed_app.app_context():
        from experiment_host.links.store import create_links, default_batch
        [link] = create_links(default_batch("open"), LinkType.PERSONAL_SINGLE, 1)
        token = link.token
        db.session.commit()
    answer = client.get(f"/l/{token}")
    resumed = client.get(answer.headers["Location"])  # the run's own ?participant= URL
    assert resumed.status_code == 200 and b"experiment-host-config" in resumed.data


def test_double_click_on_start_of_a_multiple_link_is_one_run(client, make_links, run_count):
    [(token, _)] = make_links("personal-multiple", confirm_first=True)
    page = client.get(f"/l/{token}").get_data(as_text=True)
    start = page.split('name="start" value="')[1].split('"')[0]
    _, first = enter(client, f"/l/{token}", method="post", data={"start": start})
    _, second = enter(client, f"/l/{token}", method="post", data={"start": start})
    assert first["run"]["id"] == second["run"]["id"] and run_count() == 1
    fresh = client.get(f"/l/{token}").get_data(as_text=True)
    other = fresh.split('name="start" value="')[1].split('"')[0]
    _, third = enter(client, f"/l/{token}", method="post", data={"start": other})
    assert third["run"]["id"] != first["run"]["id"] and run_count() == 2


def test_general_single_with_a_participant_id_is_one_run_per_id(client, make_links, run_count):
    [(token, _)] = make_links("general-single")
    _, first = enter(client, f"/l/{token}?participant=SONA1")
    _, again = enter(client, f"/l/{token}?participant=SONA1")  # another browser, same id
    _, other = enter(client, f"/l/{token}?participant=SONA2")
    assert first["run"]["id"] == again["run"]["id"] != other["run"]["id"]
    assert run_count() == 2
    assert b"browser-id-form" in client.get(f"/l/{token}?participant=bad%20id").data


def test_end_redirect_keeps_the_runs_facts_and_its_own_scheme(app, client, make_links):
    [(token, _)] = make_links("personal-multiple", batch="Chain")
    with app.app_context():
        batch_named("open", "Chain").end_redirect_url = "{participant}?run={run_id}"
        db.session.commit()
    _, config = enter(client, f"/l/{token}?participant=javascript:alert(1)&run_id=1")
    save_and_complete(client, config["token"])
    done = client.get(config["done_url"])
    assert b"javascript" not in done.data and b"FIXEDCODE" in done.data  # no redirect at all


def test_a_deleted_or_purged_run_gives_its_batch_place_back(app, client, make_links, run_count):
    links = make_links("personal-single", amount=3, batch="Lab")
    with app.app_context():
        batch_named("open", "Lab").max_participants = 1
        db.session.commit()
    first = enter(client, f"/l/{links[0][0]}")[1]
    assert client.get(f"/l/{links[1][0]}").status_code == 403
    with app.app_context():
        delete_runs(plan_deletion("open", run_id=first["run"]["id"]))
        db.session.commit()
    second = enter(client, f"/l/{links[1][0]}")[1]
    assert second is not None
    with app.app_context():
        db.session.get(Run, second["run"]["id"]).is_test = True
        purge_tests("open")
        db.session.commit()
    assert enter(client, f"/l/{links[2][0]}")[1] is not None
    assert run_count() == 1
