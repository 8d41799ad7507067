"""One base and one handler for every error a client is told about."""

from __future__ import annotations

import pytest

from experiment_host.api import ApiError
from experiment_host.errors import ClientError
from experiment_host.saving import RecordError
from experiment_host.tokens import TokenError


@pytest.mark.parametrize(("error", "status"), [
    (ApiError("invalid_json", "Not JSON."), 400),
    (RecordError("run_finished", "Done."), 409),
    (RecordError("run_full", "Full.", status=413), 413),
    (TokenError("expired_token", "Expired."), 401),
])
def test_each_error_is_a_client_error_with_its_status(error, status):
    assert isinstance(error, ClientError)
    assert error.status == status


def test_one_handler_answers_json_under_the_api_and_a_page_elsewhere(app):
    def refuse() -> None:
        raise RecordError("run_full", "This run is full.", status=413, saved=3)

    app.add_url_rule("/api/test-refusal", "api_test_refusal", refuse)
    app.add_url_rule("/test-refusal", "page_test_refusal", refuse)
    client = app.test_client()
    answer = client.get("/api/test-refusal")
    assert answer.status_code == 413
    assert answer.get_json() == {"error": "run_full", "message": "This run is full.", "saved": 3}
    page = client.get("/test-refusal")
    assert page.status_code == 413
    assert b"This run is full." in page.data and page.mimetype == "text/html"
