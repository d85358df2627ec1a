from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from common.form_fields import BoundedCharField
from users.addresses import is_plain, normalize_email, validate_domain_name
from users.lockout import lockout_refusal, password_is_theirs
from users.models import User
from users.services import password_reset_queue

# Longer than any passphrase or password manager's output. Django's hashers take any
# length: the bound keeps megabytes from the hasher and the password rules alike.
PASSWORD_MAX_LENGTH = 4096
# One wording at sign-up, reset and change, in place of Django's own for the latter two.
PASSWORDS_DO_NOT_MATCH = _("The two passwords do not match.")


class AddressField(BoundedCharField, forms.EmailField):
    """An email field that puts the address in the site's one form (users.addresses)
    before checking it, so that every way of typing an address means the same account.
    An address over the limit is refused before it is normalised (BoundedCharField)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Email"))
        kwargs.setdefault("max_length", 254)
        kwargs.setdefault(
            "widget", forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        return normalize_email(str(super().to_python(value)))


class PasswordField(BoundedCharField):
    """A password as typed, never stripped, of at most PASSWORD_MAX_LENGTH characters."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Password"))
        super().__init__(strip=False, max_length=PASSWORD_MAX_LENGTH, **kwargs)

    @classmethod
    def like(cls, field: forms.Field) -> "PasswordField":
        """Django's own password field `field` (its label, help text and widget), bounded."""
        return cls(label=field.label, help_text=field.help_text, widget=field.widget)


class MailedAddressField(AddressField):
    """An address the site is to send mail to, a new account's or a reset's: at a domain
    name (users.addresses.validate_domain_name), as the user model requires. Signing in
    takes any address, so an older account with an unusual one is not locked out."""

    default_validators = [*AddressField.default_validators, validate_domain_name]


class NewAddressField(MailedAddressField):
    """The address of a new account, which becomes the Reply-To of every message that
    account writes: a plain one only (users.addresses.is_plain). Signing in and resets
    take quoted ones, so an older account with such an address is not locked out."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and not is_plain(value):
            raise forms.ValidationError(
                _("Use an address without quotation marks or control characters."),
                code="unusual_address",
            )


class RegistrationForm(forms.Form):
    """Sign-up: an email and a good password.

    Whether the address already has an account is never said, here or in live
    validation (users.services.user_sign_up answers both alike). Password rules are the
    AUTH_PASSWORD_VALIDATORS, reported on the "Password" field itself (Django's own
    creation form puts them on the confirmation).
    """

    email = NewAddressField()
    password1 = PasswordField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "At least 12 characters; not a common password, not only digits, not like your email."
        ),
    )
    password2 = PasswordField(
        label=_("Password confirmation"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_password2(self) -> str:
        confirmation: str = self.cleaned_data["password2"]
        password = self.cleaned_data.get("password1")
        if password and confirmation != password:
            raise forms.ValidationError(PASSWORDS_DO_NOT_MATCH, code="password_mismatch")
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


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, taking the address as every form of the site does and the
    password bounded, and saying why when the lockout refused the password
    (users.lockout): which limit, and when to try again.

    Django's form gives its username field the model's max_length only as an attribute,
    without the check, so a 200,000-character username reached django-axes, whose record
    of the attempt (a varchar of 255) PostgreSQL refused with a 500.
    """

    username = AddressField()
    password = PasswordField.like(AuthenticationForm.base_fields["password"])

    def get_invalid_login_error(self) -> forms.ValidationError:
        refused = lockout_refusal(self.request, self.cleaned_data.get("username") or "")
        if refused is not None:
            return forms.ValidationError(refused, code="locked_out")
        return super().get_invalid_login_error()


class SignInForm(LockoutAuthenticationForm):
    """Sign-in by email. Django's form keeps the field name `username`, which is what
    `authenticate()` expects; the person sees "Email".

    With `check_credentials=False` (live validation) only the fields' own rules run:
    checking the password on every keystroke would be an unthrottled guessing oracle
    and cost a password hash per call.
    """

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


class AdminSignInForm(LockoutAuthenticationForm, AdminAuthenticationForm):
    """The admin's sign-in, taking the address as the site's own sign-in does, with the
    admin's own words for a wrong password."""


class PasswordResetRequestForm(PasswordResetForm):
    """Django's reset form, asking by address in the site's one form of it, and queueing
    the email for the worker instead of sending it in the request."""

    email = MailedAddressField()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Queue a reset for this address, the same work whether an account has it or not
        (users.services.password_reset_queue). The link is made when the worker sends it,
        under SITE_URL: Django's arguments naming the request's domain are not used."""
        password_reset_queue(address=self.cleaned_data["email"], language=get_language())


class RulesOnNewPasswordForm(SetPasswordForm):  # type: ignore[type-arg]
    """Django's new-password forms judge the new password on its confirmation, so the
    rules wait until the confirmation is typed. These judge it on the new password itself,
    as sign-up does; the confirmation says only whether the two match."""

    error_messages = {**SetPasswordForm.error_messages, "password_mismatch": PASSWORDS_DO_NOT_MATCH}
    new_password1 = PasswordField.like(SetPasswordForm.base_fields["new_password1"])
    new_password2 = PasswordField.like(SetPasswordForm.base_fields["new_password2"])

    def clean(self) -> dict[str, Any]:
        self.validate_passwords("new_password1", "new_password2")
        self.validate_password_for_user(self.user, "new_password1")
        # In place of SetPasswordForm.clean, which would judge the confirmation too.
        return self.cleaned_data


class NewPasswordForm(RulesOnNewPasswordForm):
    """Django's form for the new password after a reset. Live validation binds it with
    no account (the link's account is the view's), so only the similarity to the
    address waits for the submit."""


class CurrentPasswordCheck:
    """A form that asks a signed-in person for their password again, and checks it as
    sign-in does (users.lockout.password_is_theirs): a wrong one counts as a failed
    sign-in, and a cooled-off account is told for how long. Every form with a field for
    the current password is this or a sign-in form (tests/users/test_lockout.py).

    With `check_credentials=False` (live validation) the password is not checked, so the
    endpoint cannot be used to guess it.
    """

    user: User | None
    request: HttpRequest | None
    check_credentials: bool
    error_messages: dict[str, Any]

    def checked_password(self, password: str) -> str:
        if not self.check_credentials:
            return password
        if self.user is None or self.request is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} checks a password through authenticate(), which "
                "needs the account and the request: pass both, or check_credentials=False."
            )
        if password_is_theirs(self.request, self.user, password):
            return password
        refused = lockout_refusal(self.request, self.user.get_username())
        if refused is not None:
            raise forms.ValidationError(refused, code="locked_out")
        raise forms.ValidationError(
            self.error_messages["password_incorrect"], code="password_incorrect"
        )


class PasswordChangeWithCheckForm(CurrentPasswordCheck, RulesOnNewPasswordForm, PasswordChangeForm):
    """Django's password change: the current password, then the new one twice."""

    error_messages = {
        **PasswordChangeForm.error_messages,
        "password_mismatch": PASSWORDS_DO_NOT_MATCH,
    }
    old_password = PasswordField.like(PasswordChangeForm.base_fields["old_password"])

    def __init__(
        self,
        user: User | None,
        *args: Any,
        request: HttpRequest | None = None,
        check_credentials: bool = True,
        **kwargs: Any,
    ):
        super().__init__(user, *args, **kwargs)
        self.request = request
        self.check_credentials = check_credentials

    def clean_old_password(self) -> str:
        return self.checked_password(self.cleaned_data["old_password"])


class AccountDeleteForm(CurrentPasswordCheck, forms.Form):
    """Deleting one's account: the password, to show it is the owner at the keyboard."""

    password = PasswordField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    error_messages = {
        "password_incorrect": _("Your password was entered incorrectly. Please enter it again.")
    }

    def __init__(
        self,
        user: User | None,
        *args: Any,
        request: HttpRequest | None = None,
        check_credentials: bool = True,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.user = user
        self.request = request
        self.check_credentials = check_credentials

    def clean_password(self) -> str:
        return self.checked_password(self.cleaned_data["password"])
