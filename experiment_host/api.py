"""The task page's JSON data API: thin views over the save path, so a page can save,
heartbeat, complete and read back with its run token; a refused request changes nothing."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from sqlalchemy import select

from . import tokens
from .completion_codes import COMPLETED
from .errors import ClientError
from .experiments import registry
from .extensions import db
from .models import Run, TrialRecord
from .runs import run_for_claim
from .saving import (
    RecordError,
    RecordIn,
    complete_run,
    count_request,
    save_records,
    set_bonus,
    touch,
)

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_SEQ = 10_000_000
MAX_READ_LIMIT = 1000


class ApiError(ClientError):
    """A request the data API cannot take as sent (400 unless it says otherwise)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _OutOfRange(ValueError):
    pass


def _finite(literal: str) -> float:
    # A number beyond a double's range (1e400) would be stored as Infinity, which is not
    # JSON: no database takes it, so it is refused here, as NaN and Infinity are.
    value = float(literal)
    if not math.isfinite(value):
        raise _OutOfRange(literal)
    return value


#: Built once: json.loads with any option builds a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, whatever Content-Type the client sent."""
    raw = request.get_data(cache=False)
    try:
        body = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except _OutOfRange as exc:
        raise ApiError("invalid_json", f"The number {str(exc)[:40]} is too large to "
                       "store; numbers must be within about ±1.7e308.") from exc
    except (ValueError, RecursionError) as exc:
        raise ApiError("invalid_json", "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError("invalid_json", "The request body must be a JSON object.")
    return body


def parse_records(value: object) -> list[RecordIn]:
    """Validate the ``records`` array: objects with an int ``seq`` and an object ``data``."""
    limit = current_app.config["MAX_RECORDS_PER_REQUEST"]
    if not isinstance(value, list):
        raise ApiError("invalid_records", "'records' must be an array.")
    if len(value) > limit:
        raise ApiError("too_many_records", f"Send at most {limit} records per request.",
                       status=413)
    records: list[RecordIn] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"seq", "data"}:
            raise ApiError("invalid_records",
                           f"records[{index}] must be an object with exactly 'seq' and 'data'.")
        seq, data = item["seq"], item["data"]
        if type(seq) is not int or not 0 <= seq < MAX_SEQ:
            raise ApiError("invalid_records",
                           f"records[{index}].seq must be a whole number from 0 to {MAX_SEQ - 1}.")
        if not isinstance(data, dict):
            raise ApiError("invalid_records", f"records[{index}].data must be an object.")
        records.append(RecordIn(seq, data))
    if len({r.seq for r in records}) != len(records):
        raise ApiError("invalid_records", "Each seq may appear only once per request.")
    return records


def lacks_consent(claim: tokens.RunClaim) -> bool:
    """Whether the token may not work on its run (save, complete, bonus) for want of consent.

    A consent page's token never may, a task page's always. A token from before tokens had
    a scope is judged by its run: it may if the run needs no consent (given, or not asked).
    """
    if claim.scope is not None:
        return claim.scope != tokens.TASK
    row = db.session.execute(select(Run.experiment_slug, Run.consented_at)
                             .where(Run.id == claim.run_id)).one_or_none()
    if row is None or row.consented_at is not None:
        return False
    experiment = registry().get(row.experiment_slug)
    return experiment is not None and experiment.config.consent is not None


def working_claim(token: object) -> tokens.RunClaim:
    """What a token that may work on its run claims: the consent page's token may not
    (409 consent_required), so nothing is saved, completed or awarded before consent."""
    claim = tokens.verify(token)  # signature and age: the save's guards check the run
    if lacks_consent(claim):
        raise ApiError("consent_required",
                       "The participant has not agreed to take part yet, so nothing can be "
                       "saved. Please reload the page and answer the consent form first.",
                       status=409)
    return claim


def working_run(token: object) -> Run:
    """The run of a token that may work on it (:func:`working_claim`)."""
    return run_for_claim(working_claim(token))


def _total(value: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_SEQ:
        raise ApiError("invalid_total", f"'total' must be a whole number from 0 to {MAX_SEQ}.")
    return value


@bp.post("/records")
def save() -> Any:
    """Store a batch of trial records (idempotent per seq)."""
    body = json_body()
    claim = working_claim(body.get("token"))
    result = save_records(claim, parse_records(body.get("records")))
    return jsonify(stored=result.stored, duplicates=result.duplicates,
                   saved=result.saved, next_seq=result.next_seq)


@bp.get("/records")
def read() -> Any:
    """The run's stored records after ``after``, so a resumed page can rebuild its state."""
    run = working_run(request.args.get("token"))
    after, limit = _read_window(request.args.get("after", "-1"),
                                request.args.get("limit", str(MAX_READ_LIMIT)))
    count_request(run.id)
    rows = db.session.execute(
        select(TrialRecord.seq, TrialRecord.data)
        .where(TrialRecord.run_id == run.id, TrialRecord.seq > after)
        .order_by(TrialRecord.seq)
        .limit(limit)
    )
    records = [{"seq": seq, "data": data} for seq, data in rows]
    next_seq = run.next_seq
    db.session.commit()  # the request counted toward the run's budget
    return jsonify(records=records, next_seq=next_seq)


def _read_window(after: str, limit: str) -> tuple[int, int]:
    """``after`` and ``limit`` as whole numbers, brought within the range seqs can have
    (any whole number is a fair question; the database's integers are not unbounded)."""
    try:
        after_seq, most = int(after), int(limit)
    except ValueError as exc:
        raise ApiError("invalid_query", "'after' and 'limit' must be whole numbers.") from exc
    return min(max(after_seq, -1), MAX_SEQ), min(max(most, 0), MAX_READ_LIMIT)


@bp.post("/heartbeat")
def heartbeat() -> Any:
    """Keep the run's condition slot while the worker is active."""
    status, saved = touch(working_claim(json_body().get("token")))
    return jsonify(status=status.value, saved=saved)


@bp.post("/complete")
def complete() -> Any:
    """Complete the run once every record has arrived."""
    body = json_body()
    claim = working_claim(body.get("token"))
    total = _total(body.get("total"))
    experiment = registry().get(claim.experiment_slug)
    if experiment is None:
        raise ApiError("experiment_gone", "This experiment is no longer hosted here.",
                       status=410)
    outcome = _outcome(body.get("outcome", COMPLETED), experiment.config.outcomes)
    done_url = url_for("worker.done", slug=experiment.slug, token=body["token"])
    try:
        completed = complete_run(claim, experiment, total, outcome)
    except RecordError as error:
        if error.code == "already_completed":
            error.extra["done_url"] = done_url
        raise
    return jsonify(status=completed.status.value, completion_code=completed.completion_code,
                   outcome=outcome, done_url=done_url)


def _outcome(value: object, known: tuple[str, ...]) -> str:
    """The outcome the task ends the run with: one the experiment declares (a code in
    ``[prolific] completion_codes``), or "completed"."""
    if not isinstance(value, str):
        raise ApiError("invalid_outcome", "'outcome' must be a string such as \"completed\".")
    if value not in known:
        raise ApiError("unknown_outcome",
                       f"This experiment has no outcome {value[:40]!r}; it has: "
                       f"{', '.join(known)}. Declare an outcome with its code in "
                       "[prolific] completion_codes.", known=list(known))
    return value


BONUS_PATTERN = re.compile(r"^[0-9]+(\.)?[0-9]{0,2}$")
#: Characters a bonus reason may not hold: control characters other than tab and newlines
#: (NUL cannot be stored in PostgreSQL's text) and lone surrogates (not Unicode text).
UNSTORABLE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MAX_BONUS_REASON = 1000


def _bonus_args(body: dict[str, Any]) -> tuple[Decimal, str]:
    amount, reason = body.get("amount"), body.get("reason", "")
    if not isinstance(amount, str) or not BONUS_PATTERN.match(amount):
        raise ApiError("invalid_amount", "'amount' must be a dollar string like \"0.25\".")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_BONUS_REASON:
        raise ApiError("invalid_reason",
                       f"'reason' must be text of 1 to {MAX_BONUS_REASON} characters; the "
                       "worker sees it.")
    if UNSTORABLE_TEXT.search(reason):
        raise ApiError("invalid_reason", "'reason' may not hold control characters or "
                       "invalid Unicode (lone surrogates).")
    return Decimal(amount), reason.strip()


@bp.post("/bonus")
def bonus() -> Any:
    """Record the bonus this run earned, within the experiment's ``max_bonus``."""
    body = json_body()
    run = working_run(body.get("token"))
    amount, reason = _bonus_args(body)
    count_request(run.id)
    experiment = registry().get(run.experiment_slug)
    if experiment is None:
        raise ApiError("experiment_gone", "This experiment is no longer hosted here.",
                       status=410)
    set_bonus(run, amount, reason, experiment.config.bonus_limit)
    db.session.commit()
    return jsonify(status=run.status.value, bonus=f"{amount:.2f}", reason=reason)

