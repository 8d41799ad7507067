"""The dashboard's Study Links pages (CSRF forms) and the link columns of runs.csv."""

from __future__ import annotations

import csv
import io
import re

from tests.researcher.support import csrf_token

PAGE = "/researcher/experiments/open/links"


def page_text(client, query: str = "") -> str:
    answer = client.get(PAGE + query)
    assert answer.status_code == 200, answer.data[:300]
    return answer.get_data(as_text=True)


def post(client, path: str, **data):
    token = csrf_token(page_text(client))
    return client.post(PAGE + path, data={"csrf_token": token, **data})


def link_urls(html: str) -> list[str]:
    return re.findall(r'class="link-url" value="([^"]+)"', html)


def test_pages_need_a_login(client):
    assert client.get(PAGE).status_code in (302, 303, 401)
    assert client.post(PAGE + "/new", data={"amount": "3"}).status_code in (302, 303, 400, 401)


def test_create_filter_switch_and_download(logged_in, app):
    client = logged_in
    made = post(client, "/new", link_type="personal-single", batch="Default", amount="3",
                comment="group A")
    assert made.status_code == 303
    html = page_text(client)
    urls = link_urls(html)
    assert len(urls) == 3 and html.count("group A") >= 3
    token = urls[0].rsplit("/", 1)[1]
    entered = client.get(f"/l/{token}")
    assert entered.status_code == 303
    assert len(link_urls(page_text(client, "?state=used"))) == 1
    assert len(link_urls(page_text(client, "?state=unused"))) == 2

    link_id = re.search(r'/links/(\d+)/off"', html).group(1)
    assert post(client, f"/{link_id}/off").status_code == 303
    assert len(link_urls(page_text(client, "?state=off"))) == 1
    assert client.post(PAGE + f"/{link_id}/on").status_code == 400  # no CSRF token

    qr = client.get(PAGE + f"/{link_id}/qr.svg")
    assert qr.status_code == 200 and qr.content_type == "image/svg+xml" and b"<svg" in qr.data
    download = client.get(PAGE + "/links.csv?state=used")
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert len(rows) == 1 and rows[0]["comment"] == "group A" and rows[0]["run_id"]

    runs = client.get("/researcher/export/open/runs.csv?worker_ids=raw")
    [run] = list(csv.DictReader(io.StringIO(runs.get_data(as_text=True))))
    assert (run["batch"], run["link_type"], run["link_comment"]) == (
        "Default", "personal-single", "group A")
    other = client.get("/researcher/export/open/runs.csv?batch=Other")
    assert len(list(csv.DictReader(io.StringIO(other.get_data(as_text=True))))) == 0
    page = client.get("/researcher/experiments/open?batch=Default")
    assert page.status_code == 200


def test_batches_and_type_switches(logged_in):
    client = logged_in
    answer = post(client, "/batches", name="SONA", max_participants="10",
                  end_redirect_url="https://x.sona-systems.com/credit?survey_code={participant}")
    assert answer.status_code == 303
    html = page_text(client)
    assert "SONA" in html and "0 / 10" in html
    batch_id = re.search(r'/batches/(\d+)/types/general-single/off"', html).group(1)
    assert post(client, f"/batches/{batch_id}/types/general-single/off").status_code == 303
    assert f'/batches/{batch_id}/types/general-single/on"' in page_text(client)
    assert post(client, "/batches", name="bad", end_redirect_url="javascript:1").status_code == 400
    assert post(client, "/new", link_type="nope", batch="Default", amount="1").status_code == 400
    assert post(client, "/new", link_type="personal-single", batch="Default",
                amount="0").status_code == 400
    assert client.get(PAGE + "?state=weird").status_code == 400
    assert client.get("/researcher/experiments/nope/links").status_code == 404
    assert client.get(PAGE + "/99999/qr.svg").status_code == 404


def test_the_links_table_is_paged(logged_in, make_links, monkeypatch):
    from experiment_host.links import pages

    monkeypatch.setattr(pages, "LINKS_PER_PAGE", 2)
    make_links("personal-single", amount=5)
    first = page_text(logged_in)
    assert len(link_urls(first)) == 2 and 'id="next-page"' in first
    last = page_text(logged_in, "?page=3")
    assert len(link_urls(last)) == 1 and 'id="next-page"' not in last
    assert 'id="previous-page"' in last
    assert logged_in.get(PAGE + "?page=0").status_code == 400
    assert logged_in.get(PAGE + "?page=x").status_code == 400
