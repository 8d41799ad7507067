"""Researcher access: login with CSRF, rate limits, sessions, tokens, headers."""

from __future__ import annotations

import pytest

from experiment_host.extensions import db
from experiment_host.researcher.accounts import issue_token, revoke_tokens, set_password
from tests.researcher.support import PASSWORD, csrf_token, log_in

ROUTES = [
    "/researcher/",
    "/researcher/experiments/basic",
    "/researcher/export/basic/runs.csv",
    "/researcher/export/basic/trials.csv",
    "/researcher/export/basic/trials.jsonl",
]
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize("path", ROUTES)
def test_anonymous_is_refused(client, path):
    assert client.get(path).status_code == 401  # curl, scripts
    page = client.get(path, headers=HTML)  # a browser goes to the login page
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/researcher/login?next=")


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("header", ["Bearer ehr_wrong", "Bearer ", "Basic YWRhOnB3", "ehr_x"])
def test_wrong_tokens_are_refused(client, api_token, path, header):
    response = client.get(path, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"Wrong" not in response.data and "Set-Cookie" not in response.headers


def test_token_works_without_session_and_revoked_token_stops(client, app, api_token):
    headers = {"Authorization": f"Bearer {api_token}"}
    response = client.get("/researcher/export/basic/runs.csv", headers=headers)
    assert response.status_code == 200 and response.data.startswith(b"run_id,")
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        _, other = issue_token("ada")
        assert revoke_tokens("ada", None) == 2
        db.session.commit()
    assert client.get("/researcher/", headers=headers).status_code == 401
    assert client.get("/researcher/", headers={"Authorization": f"Bearer {other}"}
                      ).status_code == 401


def test_login_requires_csrf_token(client, researcher):
    response = client.post("/researcher/login", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers or "researcher" not in str(response.headers)
    assert client.get("/researcher/", headers=HTML).status_code == 302  # still anonymous


def test_login_logout_and_pages(client, researcher):
    response = log_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/researcher/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/researcher/")
    assert page.status_code == 200 and b"Basic test experiment" in page.data
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    bad_logout = client.post("/researcher/logout")  # no CSRF token
    assert bad_logout.status_code == 400
    assert client.get("/researcher/").status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    assert client.post("/researcher/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/researcher/").status_code == 401


def test_secure_cookie_when_public_url_is_https(make_app, researcher):
    app = make_app(PUBLIC_URL="https://experiments.example.org")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = log_in(app.test_client())
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_and_rate_limit(client, app, researcher):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        response = log_in(client, password="wrong password")
        assert response.status_code == 401 and b"Wrong name or password" in response.data
    blocked = log_in(client)  # even the right password is refused now
    assert blocked.status_code == 429
    assert b"Too many failed logins" in blocked.data
    other_user = log_in(client, name="bob", password="whatever123")
    assert other_user.status_code == 401  # the limit is per (name, IP)


def test_unknown_user_is_a_plain_failure(client, researcher):
    response = log_in(client, name="nobody")
    assert response.status_code == 401 and b"Wrong name or password" in response.data


def test_password_change_ends_sessions(logged_in, app):
    assert logged_in.get("/researcher/").status_code == 200
    with app.app_context():
        set_password("ada", "another long password")
        db.session.commit()
    assert logged_in.get("/researcher/").status_code == 401


@pytest.mark.parametrize("target, expected", [
    ("/researcher/experiments/basic", "/researcher/experiments/basic"),
    ("https://evil.example/researcher/", "/researcher/"),
    ("//evil.example/researcher/", "/researcher/"),
    ("/exp/basic", "/researcher/"),
])
def test_login_redirects_only_to_researcher_pages(client, researcher, target, expected):
    token = csrf_token(client.get("/researcher/login").get_data(as_text=True))
    response = client.post("/researcher/login", query_string={"next": target},
                           data={"csrf_token": token, "username": "ada", "password": PASSWORD})
    assert response.headers["Location"] == expected


def test_worker_flow_stays_cookie_free_after_researcher_login(logged_in, start_run):
    config = start_run()
    response = logged_in.post("/api/heartbeat", json={"token": config["token"]})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def test_failed_logins_are_limited_per_ip_across_names(client, app, researcher):
    """Password spraying: one address trying one password against many names."""
    app.config["LOGIN_MAX_FAILURES_PER_IP"] = 4
    for n in range(4):
        assert log_in(client, name=f"user{n}", password="Summer2026!!").status_code == 401
    assert log_in(client, name="user9", password="Summer2026!!").status_code == 429
    assert log_in(client).status_code == 429  # even a right password, from this address
    elsewhere = log_in(client, name="user9", password="Summer2026!!",
                       environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 401


def test_logout_ends_the_session_for_good(client, app, researcher):
    """A copy of the session cookie, taken before logging out, is refused afterwards."""
    assert log_in(client).status_code == 303
    page = client.get("/researcher/")
    copied = client.get_cookie("session")
    assert copied is not None
    token = csrf_token(page.get_data(as_text=True))
    assert client.post("/researcher/logout", data={"csrf_token": token}).status_code == 303
    thief = app.test_client()
    thief.set_cookie("session", copied.value)
    assert thief.get("/researcher/").status_code == 401
    assert log_in(client).status_code == 303  # logging in again works
    assert client.get("/researcher/").status_code == 200


def test_a_name_no_database_can_hold_is_a_plain_failure(client, researcher):
    assert log_in(client, name="a\x00b", password="whatever123").status_code == 401
