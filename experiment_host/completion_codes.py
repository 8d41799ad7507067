"""Prolific completion codes, one per named outcome of a run, so a task page can end a run as
"screened out" or "failed attention check" and Prolific act on it (approve, review, ask for a
return, move to a participant group) as the researcher declared in ``[prolific]``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

#: The outcome of a run that finished the task as intended (``ExperimentHost.finish()``).
COMPLETED = "completed"

#: Prolific's predefined completion code types (its study object, ``completion_codes``).
CodeType = Literal[
    "COMPLETED", "FAILED_ATTENTION_CHECK", "FOLLOW_UP_STUDY", "GIVE_BONUS",
    "INCOMPATIBLE_DEVICE", "NO_CONSENT", "OTHER", "FIXED_SCREENOUT",
]
#: The automated actions a completion code may trigger that need nothing but their fields
#: below (Prolific's payment actions need study settings this host does not manage).
ActionName = Literal[
    "AUTOMATICALLY_APPROVE", "MANUALLY_REVIEW", "REQUEST_RETURN",
    "ADD_TO_PARTICIPANT_GROUP", "REMOVE_FROM_PARTICIPANT_GROUP",
]
GROUP_ACTIONS = ("ADD_TO_PARTICIPANT_GROUP", "REMOVE_FROM_PARTICIPANT_GROUP")

OutcomeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
GroupId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]
ReturnReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=500)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompletionAction(_Frozen):
    """One action Prolific takes when a participant comes back with the code."""

    action: ActionName
    participant_group: GroupId | None = None
    return_reason: ReturnReason | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        # ``actions = ["MANUALLY_REVIEW"]`` is short for ``[{action = "MANUALLY_REVIEW"}]``.
        return {"action": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _needed_fields(self) -> CompletionAction:
        grouped = self.action in GROUP_ACTIONS
        if grouped != (self.participant_group is not None):
            raise ValueError(f"{self.action}: participant_group is "
                             f"{'required' if grouped else 'not allowed'}")
        returning = self.action == "REQUEST_RETURN"
        if returning != (self.return_reason is not None):
            raise ValueError(f"{self.action}: return_reason is "
                             f"{'required' if returning else 'not allowed'}")
        return self

    def to_api(self) -> dict[str, str]:
        """The action as Prolific's API takes it."""
        return self.model_dump(exclude_none=True)


class ProlificCompletionCode(_Frozen):
    """The code a participant with this ``outcome`` takes back to Prolific, and its actions."""

    outcome: OutcomeName = COMPLETED
    code: Code
    code_type: CodeType = "COMPLETED"
    actions: tuple[CompletionAction, ...] = (CompletionAction(action="MANUALLY_REVIEW"),)

    @model_validator(mode="after")
    def _some_action(self) -> ProlificCompletionCode:
        if not self.actions:
            raise ValueError(f"code {self.code}: give at least one action (e.g. MANUALLY_REVIEW)")
        return self

    def to_api(self) -> dict[str, Any]:
        """The code as an element of a study's ``completion_codes`` in Prolific's API."""
        return {"code": self.code, "code_type": self.code_type,
                "actions": [action.to_api() for action in self.actions]}


def legacy_codes(data: Any) -> Any:
    """Read the older ``[prolific] completion_code = "X"`` as one "completed" code (manual
    review, what Prolific does with a code that has no action of its own)."""
    if not isinstance(data, dict) or "completion_code" not in data:
        return data
    data = dict(data)
    code = data.pop("completion_code")
    if code is None:
        return data
    if data.get("completion_codes"):
        raise ValueError("give either completion_code (one code) or completion_codes, not both")
    data["completion_codes"] = [{"outcome": COMPLETED, "code": code}]
    return data


def check_codes(codes: tuple[ProlificCompletionCode, ...]) -> None:
    """Every outcome and every code at most once, and a "completed" code among them."""
    outcomes = [c.outcome for c in codes]
    if len(set(outcomes)) != len(outcomes):
        raise ValueError(f"each outcome may have one completion code, got {outcomes}")
    values = [c.code for c in codes]
    if len(set(values)) != len(values):
        raise ValueError("completion codes must be distinct (Prolific tells them apart)")
    if codes and COMPLETED not in outcomes:
        raise ValueError(f'add a code for the outcome "{COMPLETED}" (every run that finishes '
                         "normally needs one)")
