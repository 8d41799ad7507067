"""What runs.csv and the run filters read of a run's link: its batch, type and comment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from ..models import Run
from .models import LinkBatch, LinkEntry, StudyLink

#: runs.csv's link columns, empty for runs that did not come through a study link.
LINK_COLUMNS = ("batch", "link_type", "link_comment")


def with_link_columns(statement: Select[Any]) -> Select[Any]:
    """Add the run's batch, link type and link comment (outer joins) to a select over Run."""
    return (statement.add_columns(LinkBatch.name.label("batch"),
                                  StudyLink.link_type.label("link_type"),
                                  StudyLink.comment.label("link_comment"))
            .outerjoin(LinkEntry, LinkEntry.run_id == Run.id)
            .outerjoin(StudyLink, StudyLink.id == LinkEntry.link_id)
            .outerjoin(LinkBatch, LinkBatch.id == StudyLink.batch_id))


def in_batches(names: Sequence[str]) -> ColumnElement[bool]:
    """Runs that came through a link of one of the named batches."""
    return Run.id.in_(select(LinkEntry.run_id)
                      .join(StudyLink, StudyLink.id == LinkEntry.link_id)
                      .join(LinkBatch, LinkBatch.id == StudyLink.batch_id)
                      .where(LinkBatch.name.in_(names),
                             LinkBatch.experiment_slug == Run.experiment_slug))
