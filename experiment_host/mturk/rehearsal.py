"""The HITs of a rehearsal: ``flask simulator run`` posts every experiment's HIT to the local
simulator through the same code as ``flask hits create`` and records it, so ``flask hits``
and the study console follow the demo exactly as they would follow a real study."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete

from ..experiments import registry
from ..extensions import db
from .gateway import Gateway, Target, build_client
from .models import ExclusionQualification, Hit
from .posting import default_options, make_plan, post_batch, qualification_requirements


class RehearsalError(ValueError):
    """The rehearsal HITs cannot go to that place (not a simulator on this machine)."""


def simulator_gateway(config: Mapping[str, Any], endpoint: str) -> Gateway:
    """A gateway to the simulator at ``endpoint``, which must be on this machine."""
    target = Target(endpoint.strip().rstrip("/"), live=False, custom=True)
    if not target.local:
        raise RehearsalError(f"{endpoint} is not on this machine: rehearsal HITs go only to "
                             "a local simulator.")
    return Gateway(target, build_client(target, int(config.get("MTURK_MAX_ATTEMPTS", 8)), 2))


def forget_simulator_hits(target: Target) -> int:
    """Drop our records of an earlier simulator at this address (it kept them in memory
    only, so a restarted one has none); the caller commits. How many HITs were forgotten."""
    if not target.local:
        raise RehearsalError("Only the records of a local simulator can be forgotten.")
    db.session.execute(delete(ExclusionQualification).where(
        ExclusionQualification.endpoint == target.endpoint))
    result = db.session.execute(delete(Hit).where(Hit.endpoint == target.endpoint))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def post_rehearsal_hits(gateway: Gateway, public_url: str) -> list[Hit]:
    """Post and record one HIT per experiment (its ``[hit]`` settings) framing
    ``public_url``; commits after each, as ``flask hits create`` does."""
    posted: list[Hit] = []
    balance = gateway.balance()
    for experiment in registry().values():
        plan = make_plan(experiment, gateway.target, public_url, default_options(experiment),
                         batched=False, round_=1, exclusion=False, balance=balance)
        requirements = qualification_requirements(experiment, None)
        for batch in plan.to_post:
            row, _ = post_batch(gateway, plan, batch, requirements)
            db.session.commit()
            posted.append(row)
    return posted
