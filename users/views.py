from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, RedirectURLMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from site_config.form_views import FormValidationView, HtmxFormMixin
from site_config.rate_limits import over_limit
from users.forms import EMAIL_TAKEN_MESSAGE, RegistrationForm, SignInForm
from users.services import EmailAlreadyRegistered, user_register

SIGNUPS_LIMITED_MESSAGE = _("Too many accounts were created from your network. Try again later.")


class RegisterView(HtmxFormMixin[RegistrationForm], RedirectURLMixin, FormView[RegistrationForm]):
    """Sign-up; the new account is signed in at once and sent on to `next` or home."""

    form_class = RegistrationForm
    template_name = "users/register.html"
    partial_template_name = "partials/register_form.html"
    # Where the person goes when no safe `next` was given.
    next_page = settings.LOGIN_REDIRECT_URL

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return HttpResponseRedirect(resolve_url(self.next_page))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # The partial carries a safe `next` forward in a hidden field, as sign-in does.
        return super().get_context_data(**kwargs, next=self.get_redirect_url())

    def form_valid(self, form: RegistrationForm) -> HttpResponse:
        if over_limit(self.request, group="signup", rate=f"{settings.SIGNUPS_PER_HOUR}/h"):
            form.add_error(None, SIGNUPS_LIMITED_MESSAGE)
            return self.form_refused(form, status=429)
        try:
            user = user_register(
                email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
            )
        except EmailAlreadyRegistered:
            form.add_error("email", EMAIL_TAKEN_MESSAGE)
            return self.form_invalid(form)
        # login() rotates the session key, as sign-in does.
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        return super().form_valid(form)


class SignInView(HtmxFormMixin[AuthenticationForm], LoginView):
    form_class = SignInForm
    template_name = "users/login.html"
    partial_template_name = "partials/login_form.html"
    # A signed-in person who opens the sign-in page goes on to home (or a safe `next`).
    redirect_authenticated_user = True


class RegisterValidationView(FormValidationView):
    form_class = RegistrationForm


class SignInValidationView(FormValidationView):
    form_class = SignInForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request, "check_credentials": False}
