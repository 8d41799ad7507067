"""The dashboard's Study Links pages: batches and their switches, new links, the links
table with filters, QR codes and the CSV. Views parse, call :mod:`.store`, and render."""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from ..access import Level, require_experiment
from ..experiments import Experiment
from ..extensions import db
from ..researcher.auth import login_required
from ..researcher.forms import LogoutForm
from .forms import BatchForm, NewLinksForm, SwitchForm
from .models import LinkBatch, LinkType, StudyLink
from .rules import link_url, qr_svg
from .store import (
    STATES,
    LinkError,
    batch_named,
    batches,
    create_links,
    link_rows,
    runs_in_batch,
    switch_type,
)
from .table import csv_lines, parse_comments

bp = Blueprint("links_pages", __name__, url_prefix="/researcher/experiments/<slug>/links")
LINKS_PER_PAGE = 200
PAGE = re.compile("[0-9]{1,6}")


@bp.context_processor
def _layout() -> dict[str, Any]:
    return {"logout_form": LogoutForm(), "researcher": g.get("researcher")}


def _experiment(slug: str, level: Level = Level.VIEW) -> Experiment:
    """The experiment these pages manage, if the researcher has ``level`` on it (else 404/403)."""
    return require_experiment(slug, level)


def _back(slug: str) -> Response:
    return redirect(url_for("links_pages.index", slug=slug, **request.args), 303)


def _checked(form_class: type[SwitchForm] = SwitchForm) -> None:
    if not form_class().validate_on_submit():
        abort(400, "The form expired; please reload the page and try again.")


@bp.get("")
@login_required
def index(slug: str) -> Any:
    """Batches with their switches, the new-links form and the filtered links table."""
    experiment = _experiment(slug)
    all_batches = batches(slug)
    db.session.commit()  # the Default batch, if this was the first visit
    state = request.args.get("state", "all")
    type_arg = request.args.get("type") or None
    page = request.args.get("page", "1")
    if not PAGE.fullmatch(page) or int(page) < 1:
        abort(400, f"'page' must be a whole number from 1, not {page[:20]!r}.")
    try:
        link_type = LinkType(type_arg) if type_arg else None
        # One row more than a page: whether there is a next page.
        rows = list(link_rows(slug, link_type, state, request.args.get("batch") or None,
                              ((int(page) - 1) * LINKS_PER_PAGE, LINKS_PER_PAGE + 1)))
    except (ValueError, LinkError) as error:
        abort(400, str(error))
    new_form = NewLinksForm()
    new_form.batch.choices = [b.name for b in all_batches]
    return render_template(
        "links/dashboard.html", experiment=experiment, batches=all_batches,
        batch_runs={b.id: runs_in_batch(b) for b in all_batches}, rows=rows[:LINKS_PER_PAGE],
        page=int(page), more=len(rows) > LINKS_PER_PAGE,
        link_url=link_url, types=list(LinkType), states=STATES, state=state,
        type_arg=type_arg, new_form=new_form, batch_form=BatchForm(formdata=None),
        switch_form=SwitchForm())


@bp.post("/new")
@login_required
def new_links(slug: str) -> Any:
    """Create links in a batch: an amount of personal ones, or the batch's general one."""
    _experiment(slug, Level.EDIT)
    form = NewLinksForm()
    form.batch.choices = [b.name for b in batches(slug)]
    if not form.validate_on_submit():
        abort(400, "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()))
    comments: list[str | None] = [form.comment.data] if form.comment.data else []
    upload = form.comments.data
    try:
        if upload and getattr(upload, "filename", ""):
            comments = list(parse_comments(upload.read(1_000_000)))
        made = create_links(batch_named(slug, form.batch.data or ""), LinkType(form.link_type.data),
                            form.amount.data or 1, comments, bool(form.confirm_first.data))
    except (LinkError, ValueError) as error:
        abort(400, str(error))
    db.session.commit()
    flash(f"{len(made)} link(s) ready.")
    return _back(slug)


@bp.post("/batches")
@login_required
def new_batch(slug: str) -> Any:
    """Create a batch, or change the max and end redirect of the one with that name."""
    _experiment(slug, Level.EDIT)
    form = BatchForm()
    if not form.validate_on_submit():
        abort(400, "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()))
    try:
        batch = batch_named(slug, (form.name.data or "").strip(), create=True)
    except LinkError as error:
        abort(400, str(error))
    batch.max_participants = form.max_participants.data
    batch.end_redirect_url = form.end_redirect_url.data or None
    db.session.commit()
    return _back(slug)


def _batch(slug: str, batch_id: int) -> LinkBatch:
    batch = db.session.get(LinkBatch, batch_id)
    if batch is None or batch.experiment_slug != slug:
        abort(404, "There is no such batch.")
    return batch


@bp.post("/batches/<int:batch_id>/<any(on,off):switch>")
@login_required
def switch_batch(slug: str, batch_id: int, switch: str) -> Any:
    """Open or close a whole batch to new runs."""
    _experiment(slug, Level.EDIT)
    _checked()
    _batch(slug, batch_id).active = switch == "on"
    db.session.commit()
    return _back(slug)


@bp.post("/batches/<int:batch_id>/types/<link_type>/<any(on,off):switch>")
@login_required
def switch_batch_type(slug: str, batch_id: int, link_type: str, switch: str) -> Any:
    """Allow or refuse one link type in a batch."""
    _experiment(slug, Level.EDIT)
    _checked()
    try:
        chosen = LinkType(link_type)
    except ValueError:
        abort(404, f"There is no link type {link_type!r}.")
    switch_type(_batch(slug, batch_id), chosen, switch == "on")
    db.session.commit()
    return _back(slug)


def _link(slug: str, link_id: int) -> StudyLink:
    link = db.session.get(StudyLink, link_id)
    batch = db.session.get(LinkBatch, link.batch_id) if link else None
    if link is None or batch is None or batch.experiment_slug != slug:
        abort(404, "There is no such link.")
    return link


@bp.post("/<int:link_id>/<any(on,off):switch>")
@login_required
def switch_link(slug: str, link_id: int, switch: str) -> Any:
    """Switch one link on or off (a run it already started may finish)."""
    _experiment(slug, Level.EDIT)
    _checked()
    _link(slug, link_id).active = switch == "on"
    db.session.commit()
    return _back(slug)


@bp.get("/<int:link_id>/qr.svg")
@login_required
def qr(slug: str, link_id: int) -> Any:
    """The link's QR code as SVG; ``?download=1`` saves it as a file."""
    _experiment(slug)
    link = _link(slug, link_id)
    response = Response(qr_svg(link_url(link)), content_type="image/svg+xml")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{link.code}.svg"'
    return response


@bp.get("/links.csv")
@login_required
def links_csv(slug: str) -> Any:
    """The links table (as filtered) as CSV, the columns of ``flask links export``."""
    _experiment(slug)
    try:
        type_arg = request.args.get("type") or None
        rows = list(link_rows(slug, LinkType(type_arg) if type_arg else None,
                              request.args.get("state", "all"),
                              request.args.get("batch") or None))
    except (ValueError, LinkError) as error:
        abort(400, str(error))
    response = Response("".join(csv_lines(iter(rows))), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}-links.csv"'
    return response


@bp.errorhandler(HTTPException)
def _error(error: HTTPException) -> Any:
    db.session.rollback()
    page = render_template("researcher/message.html", title=error.name,
                           message=error.description or error.name)
    return page, error.code or 500
