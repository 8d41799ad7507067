"""The console's forms: every action is a POST with Flask-WTF's CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from ...prolific.review import REJECTION_CATEGORIES

#: MTurk's limits: RequesterFeedback and a bonus Reason are at most 1024 characters.
TEXT_MAX = 1024


class ReviewForm(FlaskForm):
    """A review button's request: ``do`` is the button (action:scope), the rest its inputs."""

    do = StringField(validators=[Length(max=80)])
    assignment_ids = SelectMultipleField(validate_choice=False)
    message = TextAreaField("Message to the worker (rejections)",
                            validators=[Length(max=TEXT_MAX)])
    amount = StringField("Bonus amount (USD)", validators=[Length(max=16)])
    reason = StringField("Bonus reason", validators=[Length(max=TEXT_MAX)])
    approve_first = BooleanField("Approve submitted assignments with complete data first")


class ConfirmForm(ReviewForm):
    """The same request, confirmed: ``shown`` is what the plan showed."""

    shown = SelectMultipleField(validate_choice=False)
    live_ok = BooleanField("This is LIVE MTurk: real workers, real money. Go ahead.")


class SyncForm(FlaskForm):
    """Only the CSRF token."""


class ProlificReviewForm(FlaskForm):
    """A Prolific review button's request: ``do`` is the button, ``study_id`` its study."""

    do = StringField(validators=[Length(max=80)])
    study_id = StringField(validators=[Length(max=64)])
    submission_ids = SelectMultipleField(validate_choice=False)
    message = TextAreaField("Message to the participant (rejections, at least 100 characters)",
                            validators=[Length(max=TEXT_MAX)])
    category = SelectField("Rejection category", validate_choice=False,
                           choices=[SelectChoice("", "(choose for rejections)"),
                                    *(SelectChoice(c) for c in REJECTION_CATEGORIES)])
    amount = StringField("Bonus amount", validators=[Length(max=16)])
    reason = StringField("Bonus reason", validators=[Length(max=TEXT_MAX)])


class ProlificConfirmForm(ProlificReviewForm):
    """The same request, confirmed: ``shown`` is what the plan showed."""

    shown = SelectMultipleField(validate_choice=False)
    live_ok = BooleanField("This is LIVE Prolific: real participants, real money. Go ahead.")
