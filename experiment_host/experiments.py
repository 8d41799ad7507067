"""Discover ``experiments/<slug>/experiment.toml`` folders into an immutable registry, so a
researcher adds an experiment by adding a folder, and a broken one is reported, not served."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from flask import current_app
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from .completion_codes import COMPLETED, ProlificCompletionCode, check_codes, legacy_codes

CONFIG_FILE = "experiment.toml"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

Money = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.)?[0-9]{0,2}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")]


class ExperimentConfigError(RuntimeError):
    """An experiment folder whose config cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    name: Name
    quota: int | None = Field(default=None, ge=0)


class Consent(_Strict):
    text: str | None = None
    page: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Consent:
        if bool(self.text) == bool(self.page):
            raise ValueError("give exactly one of consent.text or consent.page")
        return self


class Screening(_Strict):
    block_mobile: bool = False
    min_screen_width: int | None = Field(default=None, ge=0)
    browsers: tuple[str, ...] = ()


class Qualifications(_Strict):
    min_approval_rate: int | None = Field(default=None, ge=0, le=100)
    min_approved_hits: int | None = Field(default=None, ge=0)
    locales: tuple[str, ...] = ()
    adult: bool = False
    exclude_experiments: tuple[str, ...] = ()


class HitSettings(_Strict):
    reward: Money = "0.50"
    assignments: int = Field(default=9, ge=1, le=1_000_000)
    lifetime_hours: float = Field(default=72, gt=0, le=365 * 24)
    assignment_duration_minutes: float = Field(default=30, ge=0.5, le=365 * 24 * 60)
    auto_approval_delay_hours: float = Field(default=72, ge=0, le=30 * 24)
    keywords: tuple[str, ...] = ()
    frame_height: int = Field(default=0, ge=0)
    max_bonus: Money = "0"
    qualifications: Qualifications = Qualifications()

    @property
    def reward_decimal(self) -> Decimal:
        return Decimal(self.reward)


class ProlificFilter(_Strict):
    """One eligibility filter as Prolific's API takes it (a list of values, or a range)."""

    filter_id: str = Field(min_length=1, max_length=100)
    selected_values: tuple[str, ...] | None = None
    selected_range: dict[str, int] | None = None


class Prolific(_Strict):
    #: Study settings for ``flask prolific create`` (name and description default to the
    #: experiment's title and description; money in the study's currency).
    name: str | None = Field(default=None, max_length=120)
    description: str | None = None
    reward: Money = "0.50"
    places: int = Field(default=10, ge=1, le=100_000)
    estimated_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    devices: tuple[Literal["desktop", "tablet", "mobile"], ...] = ("desktop",)
    min_approval_rate: int | None = Field(default=None, ge=0, le=100)
    filters: tuple[ProlificFilter, ...] = ()
    #: One code per outcome (see completion_codes.py); ``completion_code = "X"`` still works.
    completion_codes: tuple[ProlificCompletionCode, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _legacy_code(cls, data: Any) -> Any:
        return legacy_codes(data)

    @model_validator(mode="after")
    def _codes_make_sense(self) -> Prolific:
        check_codes(self.completion_codes)
        return self

    @property
    def completion_code(self) -> str | None:
        """The "completed" outcome's code (the one code of older configs), or None."""
        return self.code_for(COMPLETED).code if self.completion_codes else None

    def code_for(self, outcome: str) -> ProlificCompletionCode:
        """The completion code of ``outcome``; KeyError if the experiment has none."""
        for code in self.completion_codes:
            if code.outcome == outcome:
                return code
        raise KeyError(outcome)


#: A record key for ``count_trials_where``: a top-level key, or a dotted path into nested ones.
RECORD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")
MAX_RULE_VALUES = 100


def _trial_rule(raw: Any) -> dict[str, tuple[str, ...]]:
    """``{key = ["value", ...], ...}``, checked with a message that shows the right shape."""
    example = 'e.g. count_trials_where = { trial_type = ["html-keyboard-response"] }'
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"must be a table of record keys and lists of values, {example}")
    rule = {}
    for key, values in raw.items():
        if not RECORD_KEY.match(key) or len(key) > 255:
            raise ValueError(f"{key!r} is not a record key (letters, digits, _ and -, "
                             f"dots for nested keys)")
        if isinstance(values, str):
            raise ValueError(f"{key} must be a list of values, e.g. {key} = [{values!r}]"
                             .replace("'", '"'))
        if (not isinstance(values, list) or not values or len(values) > MAX_RULE_VALUES
                or not all(isinstance(v, str) and 0 < len(v) <= 255 for v in values)):
            raise ValueError(f"{key} must be a list of 1 to {MAX_RULE_VALUES} non-empty "
                             f"strings, {example}")
        rule[key] = tuple(values)
    return rule


class Dashboard(_Strict):
    #: Which records the drop-off chart counts as trials: those whose every named key holds
    #: one of its values (checkpoint and run-properties records never count). None: all.
    count_trials_where: dict[str, tuple[str, ...]] | None = None
    #: The completions the chart's target line shows (default: the sum of the quotas).
    target: int | None = Field(default=None, ge=1, le=10_000_000)

    @field_validator("count_trials_where", mode="before")
    @classmethod
    def _check_rule(cls, raw: Any) -> Any:
        return _trial_rule(raw)


class ExperimentConfig(_Strict):
    title: str = Field(min_length=1, max_length=128)
    description: str = Field(min_length=1, max_length=2000)
    duration_minutes: float = Field(gt=0)
    allow_repeat: bool = False
    #: Whether the free-form ``?participant=`` link may start runs (anyone can invent ids).
    allow_open_link: bool = False
    task: str = "task.html"
    abandon_after_minutes: float | None = Field(default=None, gt=0)
    completion_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    #: Records a run must hold before it may complete (and so be paid): never fewer than one.
    min_records: int = Field(default=1, ge=1, le=10_000_000)
    conditions: tuple[Condition, ...] = (Condition(name="default"),)
    consent: Consent | None = None
    screening: Screening = Screening()
    hit: HitSettings = HitSettings()
    prolific: Prolific = Prolific()
    dashboard: Dashboard = Dashboard()
    #: The most the data API may record as a run's bonus, on every platform (USD).
    max_bonus: Money | None = None

    @property
    def bonus_limit(self) -> Decimal:
        """``max_bonus``, or the older ``hit.max_bonus`` (0 when neither is set)."""
        return Decimal(self.max_bonus if self.max_bonus is not None else self.hit.max_bonus)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes a task may end a run with: "completed" and those with a code."""
        named = (c.outcome for c in self.prolific.completion_codes)
        return tuple(dict.fromkeys((COMPLETED, *named)))

    @model_validator(mode="after")
    def _max_bonus_once(self) -> ExperimentConfig:
        if self.max_bonus is not None and "max_bonus" in self.hit.model_fields_set:
            raise ValueError("max_bonus is set twice: keep the top-level max_bonus (it holds "
                             "for every platform) and remove hit.max_bonus")
        return self

    @model_validator(mode="after")
    def _screen_width_needs_consent(self) -> ExperimentConfig:
        if self.screening.min_screen_width and self.consent is None:
            raise ValueError("screening.min_screen_width is checked on the consent page; "
                             "add a [consent] section")
        return self

    @model_validator(mode="after")
    def _distinct_conditions(self) -> ExperimentConfig:
        names = [c.name for c in self.conditions]
        if not names:
            raise ValueError("at least one condition is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"condition names must be distinct, got {names}")
        return self


@dataclass(frozen=True)
class Experiment:
    """An experiment discovered on disk."""

    slug: str
    folder: Path
    config: ExperimentConfig

    @property
    def title(self) -> str:
        return self.config.title

    @property
    def task_path(self) -> Path:
        return self.folder / self.config.task

    def condition_names(self) -> list[str]:
        return [c.name for c in self.config.conditions]


class Registry(Mapping[str, Experiment]):
    """Read-only mapping of slug → experiment."""

    def __init__(self, experiments: dict[str, Experiment]) -> None:
        self._experiments = MappingProxyType(dict(sorted(experiments.items())))

    def __getitem__(self, slug: str) -> Experiment:
        return self._experiments[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._experiments)

    def __len__(self) -> int:
        return len(self._experiments)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def load_experiment(folder: Path) -> Experiment:
    """Parse and check one experiment folder, raising ExperimentConfigError naming the file."""
    config_file = folder / CONFIG_FILE
    slug = folder.name
    if not SLUG_PATTERN.match(slug):
        raise ExperimentConfigError(
            f"{folder}: folder name must be a slug (lowercase letters, digits, - and _)"
        )
    try:
        raw: dict[str, Any] = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExperimentConfigError(f"{config_file}: cannot read TOML: {exc}") from exc
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ExperimentConfigError(f"{config_file}: {_describe(exc)}") from exc
    experiment = Experiment(slug=slug, folder=folder.resolve(), config=config)
    for page in (config.task, config.consent.page if config.consent else None):
        if page and not _inside(experiment.folder, page).is_file():
            raise ExperimentConfigError(f"{config_file}: page {page!r} not found in {folder}")
    return experiment


def _inside(folder: Path, relative: str) -> Path:
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise ExperimentConfigError(f"{folder / CONFIG_FILE}: {relative!r} leaves the folder")
    return path


def discover(experiments_dir: Path) -> Registry:
    """Load every folder of ``experiments_dir`` that holds an experiment.toml."""
    if not experiments_dir.is_dir():
        raise ExperimentConfigError(f"EXPERIMENTS_DIR {experiments_dir} is not a folder")
    found = {}
    for folder in sorted(experiments_dir.iterdir()):
        if (folder / CONFIG_FILE).is_file():
            experiment = load_experiment(folder)
            found[experiment.slug] = experiment
    return Registry(found)


def registry() -> Registry:
    """The current app's experiments (the latest reloaded version; ``reloading`` keeps it)."""
    return current_app.extensions["live_registry"].current()
