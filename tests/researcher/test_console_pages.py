"""The console's entry URLs and run-detail pages: what they show, and 400/404 for bad input."""

from __future__ import annotations

import html

import pytest

from experiment_host.models import RunStatus


def test_entry_urls_for_every_platform(logged_in, app):
    app.config["PUBLIC_URL"] = "https://experiments.example.org/"
    page = logged_in.get("/researcher/experiments/basic/entry")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert 'value="https://experiments.example.org/exp/basic"' in text
    assert ('value="https://experiments.example.org/exp/basic?PROLIFIC_PID={{%PROLIFIC_PID%}}'
            '&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"') in text
    assert "Set [prolific] completion_code" in text  # basic has no Prolific code
    assert "flask hits create posts it" in text


def test_entry_urls_warn_when_mturk_cannot_frame_them(logged_in, app):
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5000"
    text = logged_in.get("/researcher/experiments/basic/entry").get_data(as_text=True)
    assert "MTurk frames https pages only" in text


def test_run_detail_shows_the_records_as_a_table(logged_in, seed):
    run_id = seed(data=[{"rt": 350, "answer": "=cmd", "nested": {"ok": True}},
                        {"rt": 410, "trial_type": "experiment-host-checkpoint"}])
    page = logged_in.get(f"/researcher/experiments/basic/runs/{run_id}")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    header = text.split('data-testid="records"')[1].split("</thead>")[0]
    assert [h.split("</th>")[0] for h in header.split("<th>")[1:]] == [
        "seq", "received", "rt", "answer", "nested.ok", "trial_type"]
    assert "<td>=cmd</td>" in text and "<td>true</td>" in text
    assert 'class="bookkeeping"' in text


def test_run_detail_pages_through_long_runs(logged_in, seed, monkeypatch):
    from experiment_host.researcher.console import run_detail

    monkeypatch.setattr(run_detail, "PAGE_SIZE", 2)
    run_id = seed(data=[{"n": i} for i in range(5)])
    first = logged_in.get(f"/researcher/experiments/basic/runs/{run_id}").get_data(as_text=True)
    assert "<td>0</td>" in first and "?after=1" in first
    last = logged_in.get(f"/researcher/experiments/basic/runs/{run_id}?after=3")
    assert "<td>4</td>" in last.get_data(as_text=True)
    assert "?after=" not in last.get_data(as_text=True)


def test_run_detail_of_an_empty_run_says_so(logged_in, seed):
    run_id = seed(data=[], status=RunStatus.IN_PROGRESS)
    text = logged_in.get(f"/researcher/experiments/basic/runs/{run_id}").get_data(as_text=True)
    assert "No records." in text


@pytest.mark.parametrize(("path", "status"), [
    ("/researcher/experiments/basic/runs/999", 404),
    ("/researcher/experiments/other/runs/RUN", 404),
    ("/researcher/experiments/basic/runs/RUN?after=x", 400),
    ("/researcher/experiments/basic/runs/RUN?after=99999999999", 400),
])
def test_run_detail_refuses_bad_requests(logged_in, seed, path, status):
    run_id = seed(data=[{"a": 1}])
    assert logged_in.get(path.replace("RUN", str(run_id))).status_code == status


def test_runs_table_says_no_runs_and_links_run_detail(logged_in, seed):
    empty = logged_in.get("/researcher/experiments/basic").get_data(as_text=True)
    assert 'data-testid="no-runs">No runs yet.' in empty
    run_id = seed(data=[{"a": 1}])
    page = logged_in.get("/researcher/experiments/basic").get_data(as_text=True)
    assert f'href="/researcher/experiments/basic/runs/{run_id}"' in page
    assert 'class="nowrap"' in page and "/researcher/experiments/basic/mturk" in page
    filtered = logged_in.get("/researcher/experiments/basic?status=declined")
    assert "No runs match these filters." in filtered.get_data(as_text=True)
