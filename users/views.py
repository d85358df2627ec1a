"""Accounts: sign-up and address confirmation, sign-in, password reset and change,
deletion. Django's own auth views wherever one exists, each answering htmx with its
form partial (common.form_views)."""

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.translation import get_language, gettext, gettext_lazy, ngettext
from django.views import View
from django.views.generic import FormView, TemplateView

from common.form_views import (
    FormValidationView,
    HtmxFormMixin,
    HtmxLoginRequiredMixin,
)
from common.rate_limits import over_limit, refusal
from users.addresses import normalize_email
from users.forms import (
    AccountDeleteForm,
    NewPasswordForm,
    PasswordChangeWithCheckForm,
    PasswordResetRequestForm,
    RegistrationForm,
    SignInForm,
)
from users.http import AuthenticatedHttpRequest
from users.models import AccountEmailKind
from users.services import (
    account_email_queue,
    user_confirm_email,
    user_delete,
    user_password_reset,
    user_sign_up,
)
from users.tokens import InvalidVerificationToken, check_verification_token

logger = logging.getLogger(__name__)

SIGNUPS_LIMITED = gettext_lazy("Too many sign-up attempts from your network.")
RESETS_LIMITED_FOR_ADDRESS = gettext_lazy(
    "Too many password reset requests for this address. If it has an account, the links "
    "we sent are in its inbox: the newest one works."
)
RESETS_LIMITED_FROM_NETWORK = gettext_lazy("Too many password reset requests from your network.")


# The address an account email was just sent to, kept in the session for the one page
# that says so ("check your inbox"); the person typed it, so it tells them nothing new.
EMAILED_TO = "emailed_to"


def emailed_to(request: HttpRequest) -> str | None:
    """The address the person's last request sent an email to, said once."""
    address: str | None = request.session.pop(EMAILED_TO, None)
    return address


# ---------------------------------------------------------------- sign-up


class RegisterView(HtmxFormMixin[RegistrationForm], FormView[RegistrationForm]):
    """Sign-up. A new address and a taken one get the same answer, the "check your
    inbox" page; every post, valid or not, counts against the sign-up limit."""

    form_class = RegistrationForm
    template_name = "users/register.html"
    partial_template_name = "partials/register_form.html"
    success_url = reverse_lazy("register-done")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if wait := over_limit(request, group="signup", rate=f"{settings.SIGNUPS_PER_HOUR}/h"):
            form = self.get_form()
            form.is_valid()
            form.add_error(None, refusal(SIGNUPS_LIMITED, wait))
            return self.form_refused(form, status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: RegistrationForm) -> HttpResponse:
        user_sign_up(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            language=get_language(),
        )
        self.request.session[EMAILED_TO] = form.cleaned_data["email"]
        return super().form_valid(form)


class RegisterDoneView(TemplateView):
    template_name = "users/register_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "email": emailed_to(self.request)}


class RegisterValidationView(FormValidationView):
    form_class = RegistrationForm


# ---------------------------------------------------------------- address confirmation


class EmailConfirmView(HtmxLoginRequiredMixin, View):
    """The link in the confirmation email. It asks the person to sign in first (the
    link proves the mailbox, the password the account); the page then offers one
    button, since a link that changed something on GET would be used up by the mail
    scanners that open links before people do."""

    request: AuthenticatedHttpRequest
    template_name = "users/email_confirm.html"

    # django-stubs narrows this hook to HttpResponseRedirect; dispatch passes on any response.
    def handle_no_permission(self) -> HttpResponse:  # type: ignore[override]
        # The sign-in page the link leads to says why it comes first.
        messages.info(self.request, gettext("Sign in to finish confirming your email address."))
        return super().handle_no_permission()

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        return self.answer(token, invalid=not self.token_fits(token))

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        if not self.token_fits(token):
            return self.answer(token, invalid=True, status=400)
        user_confirm_email(user=self.request.user)
        messages.success(self.request, gettext_lazy("Your email address is confirmed."))
        return HttpResponseRedirect(reverse("home"))

    def token_fits(self, token: str) -> bool:
        try:
            check_verification_token(token, self.request.user)
        except InvalidVerificationToken:
            return False
        return True

    def answer(self, token: str, *, invalid: bool, status: int = 200) -> HttpResponse:
        context = {"token": token, "invalid": invalid}
        return render(self.request, self.template_name, context, status=status)


class ConfirmationResendView(HtmxLoginRequiredMixin, View):
    """A new confirmation link, at most CONFIRMATION_RESENDS_PER_HOUR per account."""

    http_method_names = ["post"]
    request: AuthenticatedHttpRequest

    def post(self, request: HttpRequest) -> HttpResponse:
        user = self.request.user
        if user.email_verified:
            return HttpResponseRedirect(reverse("home"))
        rate = settings.CONFIRMATION_RESENDS_PER_HOUR
        wait = over_limit(
            request,
            group="confirmation-resend",
            rate=f"{rate}/h",
            key=lambda group, request: str(user.pk),
        )
        if wait is not None:
            asked = ngettext(
                "You have asked for %(limit)d new link in the last hour. Please use the "
                "newest one.",
                "You have asked for %(limit)d new links in the last hour. Please use the "
                "newest one.",
                rate,
            ) % {"limit": rate}
            notice = refusal(asked, wait)
        else:
            account_email_queue(
                user=user,
                kind=AccountEmailKind.VERIFY_ADDRESS,
                language=get_language(),
            )
            notice = gettext_lazy("We sent a new link to %(email)s.") % {"email": user.email}
        limited = wait is not None
        if self.request.htmx:
            context = {"notice": notice, "limited": limited}
            return render(request, "partials/confirmation_pending.html", context)
        (messages.warning if limited else messages.success)(request, notice)
        return HttpResponseRedirect(reverse("home"))


# ---------------------------------------------------------------- sign-in


class SignInView(HtmxFormMixin[AuthenticationForm], auth_views.LoginView):
    form_class = SignInForm
    template_name = "users/login.html"
    partial_template_name = "partials/login_form.html"
    # A signed-in person who opens the sign-in page goes on to home (or a safe `next`).
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        # The start of a person's story in the logs; their messages carry the same id.
        user_id = form.get_user().pk
        logger.info("signed_in user_id=%s", user_id, extra={"user_id": user_id})
        signed_in = gettext("You are signed in as %(email)s.") % {"email": form.get_user().email}
        messages.success(self.request, signed_in)
        return response


class SignOutView(auth_views.LogoutView):
    """Django's sign-out, which then says so on the page it lands on. The notice goes in
    the messages cookie (FallbackStorage), which outlives the session just ended."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, gettext("You are signed out."))
        return response


class SignInValidationView(FormValidationView):
    form_class = SignInForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request, "check_credentials": False}


# ---------------------------------------------------------------- password reset


class PasswordResetView(HtmxFormMixin[PasswordResetRequestForm], auth_views.PasswordResetView):
    """Django's reset request. The same answer for every address (an unknown one gets
    no email); limited per address asked for and per client."""

    form_class = PasswordResetRequestForm
    template_name = "users/password_reset.html"
    partial_template_name = "partials/password_reset_form.html"

    def form_valid(self, form: PasswordResetRequestForm) -> HttpResponse:
        rate = f"{settings.PASSWORD_RESETS_PER_HOUR}/h"
        address = form.cleaned_data["email"]
        # Both limits are counted on every request, so neither can be used up unseen.
        by_address = over_limit(
            self.request,
            group="password-reset-address",
            rate=rate,
            key=lambda group, request: normalize_email(address),
        )
        by_client = over_limit(self.request, group="password-reset-client", rate=rate)
        # The address's own limit first: its message tells the owner where a link is.
        if by_address:
            wait = max(by_address, by_client or by_address)
            form.add_error(None, refusal(RESETS_LIMITED_FOR_ADDRESS, wait))
            return self.form_refused(form, status=429)
        if by_client:
            form.add_error(None, refusal(RESETS_LIMITED_FROM_NETWORK, by_client))
            return self.form_refused(form, status=429)
        self.request.session[EMAILED_TO] = address
        return super().form_valid(form)


class PasswordResetValidationView(FormValidationView):
    form_class = PasswordResetRequestForm


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "users/password_reset_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "email": emailed_to(self.request)}


class PasswordResetConfirmView(HtmxFormMixin[NewPasswordForm], auth_views.PasswordResetConfirmView):
    """Django's new-password form behind the emailed link: the link works once and
    expires (PASSWORD_RESET_TIMEOUT), and the new password ends every session of the
    account. The link came to the address: the address counts as confirmed, and the
    account's cool-off for wrong passwords ends (user_password_reset)."""

    form_class = NewPasswordForm
    template_name = "users/password_reset_confirm.html"
    partial_template_name = "partials/password_reset_confirm_form.html"

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        user_password_reset(user=form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "users/password_reset_complete.html"


class NewPasswordValidationView(FormValidationView):
    form_class = NewPasswordForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": None}


# ---------------------------------------------------------------- your account


class AccountView(HtmxLoginRequiredMixin, TemplateView):
    request: AuthenticatedHttpRequest
    template_name = "users/account.html"


class PasswordChangeView(HtmxFormMixin[PasswordChangeWithCheckForm], auth_views.PasswordChangeView):
    """Django's password change: the current password is required, this session stays
    signed in and every other one ends."""

    form_class = PasswordChangeWithCheckForm
    template_name = "users/password_change.html"
    partial_template_name = "partials/password_change_form.html"
    success_url = reverse_lazy("account")

    def get_form_kwargs(self) -> dict[str, Any]:
        # The current password is checked as sign-in checks it, which needs the request.
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form: PasswordChangeWithCheckForm) -> HttpResponse:
        messages.success(
            self.request,
            gettext_lazy("Your password is changed. Every other session is signed out."),
        )
        return super().form_valid(form)


class PasswordChangeValidationView(FormValidationView):
    """Checks the new password's rules without reading the session: with no account
    bound, the current password and the similarity to the address wait for the submit,
    and a validation still on its way when the submit rotates the session key cannot
    sign the person out (Django deletes the cookie of a session it cannot find)."""

    form_class = PasswordChangeWithCheckForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": None, "check_credentials": False}


class AccountDeleteView(
    HtmxLoginRequiredMixin, HtmxFormMixin[AccountDeleteForm], FormView[AccountDeleteForm]
):
    """Deleting one's account, password required. Messages already written keep their
    delivery records, with the sender gone."""

    request: AuthenticatedHttpRequest
    form_class = AccountDeleteForm
    template_name = "users/account_delete.html"
    partial_template_name = "partials/account_delete_form.html"
    success_url = reverse_lazy("home")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user, "request": self.request}

    def form_valid(self, form: AccountDeleteForm) -> HttpResponse:
        user = self.request.user
        logout(self.request)
        user_delete(user=user)
        messages.success(self.request, gettext_lazy("Your account is deleted."))
        return super().form_valid(form)


class AccountDeleteValidationView(FormValidationView):
    """The field's own rules only: the password is checked by the submit alone."""

    form_class = AccountDeleteForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": None, "check_credentials": False}
