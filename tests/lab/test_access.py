"""Roles and access per experiment: every researcher route that names an experiment checks
it (found from the app's url_map, so new routes are covered), tokens act with their
researcher's rights narrowed, and access changes and exports go to the audit log."""

from __future__ import annotations

import pytest
from flask import g
from werkzeug.exceptions import Forbidden, NotFound

from experiment_host.access import check_access, grant
from experiment_host.audit import audit_entries
from experiment_host.extensions import db
from experiment_host.links.models import LinkType
from experiment_host.links.store import create_links, default_batch
from experiment_host.researcher.accounts import add_researcher, find_researcher, issue_token
from tests.researcher.support import PASSWORD, csrf_token, log_in

#: Participant-facing blueprints: their routes are open to participants by design.
PUBLIC_BLUEPRINTS = {"worker", "api", "health", "static"}
#: A value for each URL argument of the researcher routes (a new argument fails the test
#: until it gets one here, so no new route goes untried).
SAMPLE_ARGS = {"slug": "basic", "kind": "runs.csv", "run_id": "{run_id}", "batch_id": "1",
               "link_id": "1", "switch": "off", "link_type": "personal-single"}


def researcher_routes(app):
    """(rule, method) of every non-participant route that names an experiment."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in PUBLIC_BLUEPRINTS or "slug" not in rule.arguments:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def url_for_rule(rule, run_id, slug="basic"):
    missing = set(rule.arguments) - set(SAMPLE_ARGS)
    assert not missing, f"give {rule.rule} a sample value for {missing} in SAMPLE_ARGS"
    values = {name: SAMPLE_ARGS[name].format(run_id=run_id) for name in rule.arguments}
    values["slug"] = slug
    return rule.build(values)[1]


def add_account(app, name, admin=False, **grants):
    with app.app_context():
        add_researcher(name, PASSWORD, admin=admin)
        for slug, level in grants.items():
            grant(slug, name, level)
        db.session.commit()


def token_of(app, name, **options):
    with app.app_context():
        _, plain = issue_token(name, **options)
        db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def run_id(app, seed):
    with app.app_context():  # link 1 and batch 1 of "basic", for the study-link pages
        create_links(default_batch("basic"), LinkType.PERSONAL_SINGLE, 1)
        db.session.commit()
    return seed(slug="basic", condition="A", data=[{"rt": 1}])


def test_every_experiment_route_is_404_without_access(app, client, run_id):
    add_account(app, "bob", open="owner")  # access to another experiment only
    assert log_in(client, "bob").status_code == 303
    token = csrf_token(client.get("/researcher/experiments/open").get_data(as_text=True))
    routes = list(researcher_routes(app))
    assert len(routes) >= 8  # the page, export, test run, purge, delete, reload, access...
    for rule, method in routes:
        url = url_for_rule(rule, run_id)
        answer = client.open(url, method=method, data={"csrf_token": token, "name": "bob",
                                                       "level": "owner", "platform": "link",
                                                       "confirm": "yes"})
        assert answer.status_code == 404, (method, url, answer.status_code)
        nowhere = client.open(url_for_rule(rule, run_id, slug="nope"), method=method,
                              data={"csrf_token": token})
        # The same answer as for an experiment that does not exist: nothing leaks.
        assert answer.get_data(as_text=True).replace("basic", "X") == \
            nowhere.get_data(as_text=True).replace("nope", "X")
    listing = client.get("/researcher/").get_data(as_text=True)
    assert "/researcher/experiments/open" in listing
    assert "/researcher/experiments/basic" not in listing
    with app.app_context():
        assert [e.action for e in audit_entries("basic")] == []  # nothing was done


def test_a_view_only_collaborator_sees_but_cannot_change(app, client, run_id):
    add_account(app, "carol", basic="view")
    assert log_in(client, "carol").status_code == 303
    page = client.get("/researcher/experiments/basic")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Your access: view" in html
    for button in ('id="test-run-button"', 'id="purge-tests-button"', 'id="grant-form"',
                   'id="audit-log"'):
        assert button not in html
    assert client.get("/researcher/export/basic/runs.csv").status_code == 200
    token = csrf_token(html)
    for rule, method in researcher_routes(app):
        if method == "GET":
            continue
        answer = client.open(url_for_rule(rule, run_id), method=method,
                             data={"csrf_token": token, "name": "carol", "level": "owner",
                                   "platform": "link", "confirm": "yes"})
        assert answer.status_code == 403, (method, rule.rule, answer.status_code)


def test_a_view_only_token_reads_and_is_refused_every_change(app, client, run_id):
    add_account(app, "carol", basic="view")
    headers = token_of(app, "carol")
    for rule, method in researcher_routes(app):
        answer = client.open(url_for_rule(rule, run_id), method=method, headers=headers)
        if method == "GET":
            assert answer.status_code == 200, (rule.rule, answer.status_code)
        else:
            assert answer.status_code in (400, 403), (rule.rule, answer.status_code)


def test_tokens_can_be_read_only_or_limited_to_some_experiments(app, client, researcher):
    limited = token_of(app, researcher, experiments=("open",))
    assert client.get("/researcher/experiments/open", headers=limited).status_code == 200
    assert client.get("/researcher/experiments/basic", headers=limited).status_code == 404
    assert client.get("/researcher/export/basic/runs.csv", headers=limited).status_code == 404
    listing = client.get("/researcher/", headers=limited).get_data(as_text=True)
    assert "experiments/open" in listing and "experiments/basic" not in listing
    with app.test_request_context():
        g.researcher = find_researcher(researcher)  # an admin
        g.pop("api_token", None)
        assert check_access("basic", "owner").value == "owner"
        _, plain = issue_token(researcher, read_only=True)
        from experiment_host.researcher.accounts import researcher_for_token

        g.api_token = researcher_for_token(plain)[1]
        assert check_access("basic", "view").value == "view"
        with pytest.raises(Forbidden):
            check_access("basic", "edit")
        g.researcher = None
        with pytest.raises(NotFound):
            check_access("basic", "view")


def test_owners_share_on_the_dashboard_and_it_is_audited(app, client, run_id):
    add_account(app, "olga", basic="owner")
    add_account(app, "dan", basic="edit")
    add_account(app, "newbie")

    def as_researcher(name):
        assert log_in(client, name).status_code == 303
        return client.get("/researcher/experiments/basic").get_data(as_text=True)

    token = csrf_token(as_researcher("dan"))
    refused = client.post("/researcher/experiments/basic/access",
                          data={"csrf_token": token, "name": "newbie", "level": "view"})
    assert refused.status_code == 403  # edit is not owner
    page = as_researcher("olga")
    assert 'id="grant-form"' in page and "dan" in page.split('id="collaborators"')[1]
    token = csrf_token(page)
    granted = client.post("/researcher/experiments/basic/access",
                          data={"csrf_token": token, "name": "newbie", "level": "view"})
    assert granted.status_code == 303
    unknown = client.post("/researcher/experiments/basic/access",
                          data={"csrf_token": token, "name": "nobody", "level": "view"})
    assert unknown.status_code == 400
    bad_level = client.post("/researcher/experiments/basic/access",
                            data={"csrf_token": token, "name": "newbie", "level": "god"})
    assert bad_level.status_code == 400
    assert "Your access: view" in as_researcher("newbie")
    assert client.get("/researcher/export/basic/trials.csv").status_code == 200
    token = csrf_token(as_researcher("olga"))
    revoked = client.post("/researcher/experiments/basic/access/revoke",
                          data={"csrf_token": token, "name": "newbie"})
    assert revoked.status_code == 303
    log = client.get("/researcher/experiments/basic").get_data(as_text=True)
    log = log.split('id="audit-log"')[1]
    assert "grant" in log and "newbie: view" in log and "revoke" in log and "export" in log
    assert log_in(client, "newbie").status_code == 303
    assert client.get("/researcher/experiments/basic").status_code == 404
    with app.app_context():
        actions = [(e.actor, e.action) for e in audit_entries("basic")]
    assert actions[:3] == [("olga", "revoke"), ("newbie", "export"), ("olga", "grant")]
    assert actions[3][0].startswith("cli") and actions[3][1] == "grant"  # add_account's


def test_cli_accounts_roles_grants_and_tokens(app, client):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["researchers", "add", "boss", "--admin", "--password", PASSWORD])
    assert made.exit_code == 0 and "Admin 'boss' added." in made.output
    runner.invoke(args=["researchers", "add", "erin", "--password", PASSWORD])
    listing = runner.invoke(args=["researchers", "list"]).output
    assert "boss\tadmin" in listing and "erin\tresearcher" in listing
    assert log_in(client, "erin").status_code == 303
    assert "experiments/basic" not in client.get("/researcher/").get_data(as_text=True)
    assert client.get("/researcher/experiments/basic").status_code == 404
    granted = runner.invoke(args=["researchers", "grant", "basic", "erin", "--level", "edit"])
    assert granted.exit_code == 0, granted.output
    assert client.get("/researcher/experiments/basic").status_code == 200
    assert runner.invoke(args=["researchers", "grant", "nope", "erin"]).exit_code == 1
    assert runner.invoke(args=["researchers", "grant", "basic", "ghost"]).exit_code == 1
    bad = runner.invoke(args=["researchers", "grant", "basic", "erin", "--level", "god"])
    assert bad.exit_code == 2
    token = runner.invoke(args=["researchers", "token", "erin", "--read-only",
                                "--experiment", "basic"])
    assert token.exit_code == 0
    tokens = runner.invoke(args=["researchers", "tokens", "erin"]).output
    assert "read-only basic" in tokens
    assert runner.invoke(args=["researchers", "revoke", "basic", "erin"]).exit_code == 0
    assert client.get("/researcher/experiments/basic").status_code == 404
    again = runner.invoke(args=["researchers", "revoke", "basic", "erin"])
    assert again.exit_code == 1 and "no access" in again.output
    log = runner.invoke(args=["researchers", "audit", "basic"]).output
    assert "\trevoke\tbasic\terin" in log and "\tgrant\tbasic\terin: edit" in log
