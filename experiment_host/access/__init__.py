"""Who may see and change which experiment: admins, and per experiment owners and
collaborators with edit or view access; API tokens act with their researcher's rights,
narrowed to read-only or to some experiments.

Other code calls ONE function: :func:`require_experiment` (slug, level) -> Experiment, after
``login_required``. It aborts 404 when the current researcher (session or API token) may
not see the experiment at all, exactly as for an experiment that does not exist (no leak of
which experiments exist), and 403 when they may see it but not at that level (a view-only
collaborator or a read-only token asking to change something). :func:`check_access` is the
same check for slugs that may only live in the data (the dashboard of a removed folder).

Commands call :func:`cli_access` / :func:`cli_experiment` instead: the same rules for the
researcher named by ``--as`` or EXPERIMENT_HOST_RESEARCHER (else the server's operator).
"""

from __future__ import annotations

from .cli import (
    acting_researcher,
    add_acting_option,
    cli_access,
    cli_access_sessions,
    cli_experiment,
    cli_visible,
    unknown_experiment,
)
from .grants import AccessError, collaborators, grant, revoke
from .models import ExperimentAccess, Level
from .rules import check_access, current_level, require_experiment, visible

__all__ = [
    "AccessError",
    "ExperimentAccess",
    "Level",
    "acting_researcher",
    "add_acting_option",
    "check_access",
    "cli_access",
    "cli_access_sessions",
    "cli_experiment",
    "cli_visible",
    "collaborators",
    "current_level",
    "grant",
    "require_experiment",
    "revoke",
    "unknown_experiment",
    "visible",
]
