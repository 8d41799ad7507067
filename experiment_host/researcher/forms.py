"""WTForms for the researcher pages, so every form post is CSRF-protected by Flask-WTF."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional


class LoginForm(FlaskForm):
    username = StringField("Name", validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


class LogoutForm(FlaskForm):
    """No fields: only the CSRF token, so a foreign page cannot log a researcher out."""


class TestRunForm(FlaskForm):
    """Start a test run of the experiment on one platform."""

    platform = StringField("Platform", validators=[AnyOf(["link", "prolific", "mturk"])])


class ConfirmForm(FlaskForm):
    """A destructive action (purge test runs, delete a run): posted once to see what would
    go, again with confirm=yes to do it."""

    confirm = HiddenField(validators=[Optional(), AnyOf(["yes"])])


class GrantForm(FlaskForm):
    """Give a researcher access to the experiment (or change theirs)."""

    name = StringField("Researcher", validators=[DataRequired(), Length(max=64)])
    level = StringField("Level", validators=[AnyOf(["view", "edit", "owner"])])


class RevokeForm(FlaskForm):
    """Take a researcher's access away."""

    name = StringField("Researcher", validators=[DataRequired(), Length(max=64)])
