"""The HITs ``flask simulator run`` posts are this project's HITs, so ``flask hits`` follows
the demo: recorded like the CLI's, forgotten when a fresh simulator takes the address."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from experiment_host.experiments import registry
from experiment_host.extensions import db
from experiment_host.models import RunStatus
from experiment_host.mturk import rehearsal
from experiment_host.mturk.gateway import Target
from experiment_host.mturk.models import Hit
from tests.mturk.test_hits_review import run_status


def post_demo(app, url):
    with app.app_context():
        gateway = rehearsal.simulator_gateway(app.config, url)
        forgotten = rehearsal.forget_simulator_hits(gateway.target)
        db.session.commit()
        posted = {hit.experiment_slug: hit.hit_id
                  for hit in rehearsal.post_rehearsal_hits(gateway, "http://127.0.0.1:5000")}
        return forgotten, posted


def test_demo_hits_are_recorded_and_followed_by_flask_hits(app, sim, simulator, hits, work):
    forgotten, posted = post_demo(app, simulator.url + "/")
    with app.app_context():
        assert forgotten == 0 and set(posted) == set(registry())
    assert {h.external_url for h in sim.hits.values()} == {
        f"http://127.0.0.1:5000/exp/{slug}" for slug in posted}
    listed = hits("list")
    assert f"HITs on sandbox (no real money) at custom endpoint {simulator.url}: " \
           f"{len(posted)}" in listed.output
    worked = work(posted["basic"])
    assert "submitted 1" in hits("status", posted["basic"]).output
    approved = hits("approve", "--all", "--yes")
    assert approved.exit_code == 0, approved.output
    assert "Summary: 1 approved now" in approved.output
    assert sim.assignments[worked.assignment_id].status == "Approved"
    assert run_status(app, worked.run_id) == RunStatus.APPROVED


def test_a_fresh_simulator_replaces_the_records_of_the_last(app, sim, simulator, hits):
    _, first = post_demo(app, simulator.url)
    sim.hits.clear()  # the simulator restarted: its memory is empty, its address the same
    sim.request_tokens.clear()
    forgotten, second = post_demo(app, simulator.url)
    assert forgotten == len(first) and set(second) == set(first)
    assert set(second.values()) == set(sim.hits) and not set(first.values()) & set(sim.hits)
    with app.app_context():
        recorded = set(db.session.scalars(select(Hit.hit_id)))
    assert recorded == set(second.values())
    assert "not found on MTurk" not in hits("list").output


def test_only_a_simulator_on_this_machine_takes_rehearsal_hits(app):
    with app.app_context(), pytest.raises(rehearsal.RehearsalError, match="not on this machine"):
        rehearsal.simulator_gateway(app.config, "https://mturk-requester.us-east-1.amazonaws.com")
    sandbox = Target("https://mturk-requester-sandbox.us-east-1.amazonaws.com", False, False)
    with app.app_context(), pytest.raises(rehearsal.RehearsalError):
        rehearsal.forget_simulator_hits(sandbox)
