"""MTurk worker ids in upper case, as MTurk writes them and as entry now stores them.

The repeat rule compares worker ids as stored; entry upper-cases MTurk's ``workerId`` from
now on, so runs stored under another spelling are upper-cased here to be found by it. A run
whose upper-cased id and attempt are taken already (the same worker entered under two
spellings) is numbered after that worker's other runs. Downgrading keeps the upper case
(the original spelling is not kept; it named the same worker).

Revision ID: 0008_identity
Revises: 0007_saves_keep_run_indexes
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

revision = "0008_identity"
down_revision = "0007_saves_keep_run_indexes"
branch_labels = None
depends_on = None

runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("experiment_slug", sa.String),
                sa.column("platform", sa.String), sa.column("worker_id", sa.String),
                sa.column("attempt", sa.Integer))


def _attempts(bind, slug, worker_id):
    return set(bind.execute(sa.select(runs.c.attempt).where(
        runs.c.experiment_slug == slug, runs.c.platform == "mturk",
        runs.c.worker_id == worker_id)).scalars())


def upgrade():
    bind = op.get_bind()
    mixed = bind.execute(
        sa.select(runs.c.id, runs.c.experiment_slug, runs.c.worker_id, runs.c.attempt)
        .where(runs.c.platform == "mturk", runs.c.worker_id != sa.func.upper(runs.c.worker_id))
        .order_by(runs.c.id)
    ).all()
    for run_id, slug, worker_id, attempt in mixed:
        taken = _attempts(bind, slug, worker_id.upper())
        if attempt in taken:
            attempt = max(taken | _attempts(bind, slug, worker_id)) + 1
        bind.execute(runs.update().where(runs.c.id == run_id)
                     .values(worker_id=worker_id.upper(), attempt=attempt))


def downgrade():
    pass
