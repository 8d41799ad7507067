"""The dashboard's link forms (Flask-WTF, so every post carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, SelectField, StringField, URLField
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, Regexp

from .models import LinkType
from .store import MAX_AMOUNT

TYPE_CHOICES = [t.value for t in LinkType]


class NewLinksForm(FlaskForm):
    link_type = SelectField("Type", choices=TYPE_CHOICES, default=LinkType.PERSONAL_SINGLE.value)
    batch = SelectField("Batch", choices=[], validate_choice=True)
    amount = IntegerField("Amount", default=1,
                          validators=[DataRequired(), NumberRange(1, MAX_AMOUNT)])
    comment = StringField("Comment (shown to you, never to the participant)",
                          validators=[Optional(), Length(max=500)])
    comments = FileField("or a CSV of comments, one a row (the first column)")
    confirm_first = BooleanField("Confirm first (show a Start page)")


class BatchForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64),
                                           Regexp(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")])
    max_participants = IntegerField("Maximum participants",
                                    validators=[Optional(), NumberRange(0, 10_000_000)])
    end_redirect_url = URLField("End redirect URL", validators=[
        Optional(), Length(max=2000), URL(require_tld=False)])


class SwitchForm(FlaskForm):
    """Only the CSRF token: the switch's target and direction are in the URL."""
