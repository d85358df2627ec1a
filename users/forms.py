from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from users.models import User

EMAIL_TAKEN_MESSAGE = _("An account with this email already exists. Sign in instead.")


class RegistrationForm(forms.Form):
    """Sign-up: an email that is not yet registered in any case, and a good password.

    Password rules are the AUTH_PASSWORD_VALIDATORS, reported on the "Password" field
    itself (Django's own creation form puts them on the confirmation).
    """

    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "At least 12 characters; not a common password, not only digits, not like your email."
        ),
    )
    password2 = forms.CharField(
        label=_("Password confirmation"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if User.objects.with_email(email).exists():
            raise forms.ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken")
        return email

    def clean_password2(self) -> str:
        confirmation: str = self.cleaned_data["password2"]
        password = self.cleaned_data.get("password1")
        if password and confirmation != password:
            raise forms.ValidationError(
                _("The two passwords do not match."), code="password_mismatch"
            )
        return confirmation

    def clean(self) -> dict[str, Any]:
        # The password rules run after every field is cleaned, so a weak password does
        # not hide a mismatched confirmation; the email is there for the similarity check.
        super().clean()
        cleaned_data = self.cleaned_data
        password = cleaned_data.get("password1")
        if password:
            candidate = User(email=cleaned_data.get("email", ""))
            try:
                password_validation.validate_password(password, user=candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned_data


class SignInForm(AuthenticationForm):
    """Sign-in by email. Django's form keeps the field name `username`, which is what
    `authenticate()` expects; the person sees "Email".

    With `check_credentials=False` (live validation) only the fields' own rules run:
    checking the password on every keystroke would be an unthrottled guessing oracle
    and cost a password hash per call.
    """

    username = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        # One message for an unknown email and a wrong password alike.
        "invalid_login": _("Enter a correct email and password."),
    }

    def __init__(
        self,
        request: HttpRequest | None = None,
        *args: Any,
        check_credentials: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(request, *args, **kwargs)
        self.check_credentials = check_credentials

    def clean(self) -> dict[str, Any]:
        if not self.check_credentials:
            return self.cleaned_data
        return super().clean()
