"""The simulator's HIT preview is a rehearsal's: the host does not count it in the funnel."""

from __future__ import annotations

import html
import re
import urllib.request
from urllib.parse import parse_qsl, urlsplit

from experiment_host.extensions import db
from experiment_host.models import ExperimentRow


def test_a_preview_on_the_simulator_is_not_counted(app, client, created_hit, simulator):
    hit_id = created_hit()
    with urllib.request.urlopen(f"{simulator.url}/hits/{hit_id}", timeout=10) as response:
        page = response.read().decode()
    frame = html.unescape(re.search(r'<iframe id="hit-frame"[^>]* src="([^"]+)"', page).group(1))
    args = dict(parse_qsl(urlsplit(frame).query))
    assert args["assignmentId"] == "ASSIGNMENT_ID_NOT_AVAILABLE"
    assert args["turkSubmitTo"] == simulator.url
    app.config["TEST_SUBMIT_ORIGINS"] = (simulator.url,)  # as SIMULATOR_PORT makes it
    assert client.get("/exp/basic", query_string=args).status_code == 200
    worker = {name: args[name] for name in ("assignmentId", "hitId")}  # MTurk may send only
    assert client.get("/exp/basic", query_string=worker).status_code == 200  # these two
    with app.app_context():
        assert db.session.get(ExperimentRow, "basic").previews == 1
