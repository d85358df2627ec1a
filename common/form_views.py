"""The two ways a form is served besides the full page: submitted by htmx, and
validated field by field by the live-validation script (static/js/live-validation.js).

Both bind the page's own form class, so the rules live in the form and nowhere else.
"""

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django import forms
from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import FormView
from django.views.generic.base import TemplateResponseMixin
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from common.rate_limits import over_limit

_FormT = TypeVar("_FormT", bound=forms.BaseForm)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


if TYPE_CHECKING:
    # To the type checker the mixins are the views they go into, so their calls to
    # super() resolve; at run time they stand alone, ahead of the view's own classes.
    class _TemplateView(TemplateResponseMixin, View): ...

    _FormView = FormView
    _View = View
else:
    _TemplateView = object
    _FormView = Generic
    _View = object


class HtmxTemplateMixin(_TemplateView):
    """A view whose URL answers a whole page, or, to htmx, the part of it that htmx
    swaps: the template is chosen by `request.htmx`."""

    request: HtmxHttpRequest
    # The part alone, as htmx swaps it in.
    partial_template_name: str

    def get_template_names(self) -> list[str]:
        if self.request.htmx:
            return [self.partial_template_name]
        return super().get_template_names()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().dispatch(request, *args, **kwargs)
        # The same URL answers a page or a fragment; caches must keep them apart.
        patch_vary_headers(response, ("HX-Request",))
        return response


class HtmxFormMixin(HtmxTemplateMixin, _FormView[_FormT]):
    """A form view that answers htmx with the form partial alone.

    Invalid input re-renders the partial with status 200, because htmx 2 does not swap
    4xx bodies in by default. A successful submit that redirects becomes an HX-Redirect,
    so the browser loads the next page whole: after sign-in the CSRF token has rotated
    and the old page must not keep posting with the stale one.
    """

    def form_valid(self, form: _FormT) -> HttpResponse:
        response = super().form_valid(form)
        if self.request.htmx and isinstance(response, HttpResponseRedirect):
            return HttpResponseClientRedirect(response.url)
        return response

    def form_refused(self, form: _FormT, *, status: int) -> HttpResponse:
        """The form again, saying why it was refused (a rate limit, say): status 200 for
        htmx, which swaps nothing else in, and `status` for a plain request."""
        response = self.form_invalid(form)
        if not self.request.htmx:
            response.status_code = status
        return response


class HtmxLoginRequiredMixin(LoginRequiredMixin, _View):
    """Sends anonymous people to sign in: plain requests by redirect, htmx requests by
    HX-Redirect, so the sign-in page replaces the whole page, not a fragment of it."""

    request: HtmxHttpRequest

    # django-stubs narrows this hook to HttpResponseRedirect; dispatch passes on any response.
    def handle_no_permission(self) -> HttpResponse:  # type: ignore[override]
        response = super().handle_no_permission()
        if self.request.htmx and isinstance(response, HttpResponseRedirect):
            return HttpResponseClientRedirect(response.url)
        return response


class FormValidationView(View):
    """Answer, as JSON, the errors of the fields a person has touched so far.

    The script posts the form's current values plus one `_touched` entry per field the
    person has visited; untouched fields are validated too (a password is compared with
    the email) but their errors are held back until the person gets to them.
    """

    http_method_names = ["post"]
    # The form class of the page this endpoint validates.
    form_class: type[forms.BaseForm]
    # The POST key that names each touched field.
    touched_key = "_touched"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {"data": self.request.POST}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if over_limit(request, group="validation", rate=f"{settings.VALIDATIONS_PER_MINUTE}/m"):
            # The script shows nothing for it; the submit still validates everything.
            return JsonResponse({"errors": {}, "limited": True}, status=429)
        form = self.form_class(**self.get_form_kwargs())
        touched = set(request.POST.getlist(self.touched_key))
        errors = {
            name: [error["message"] for error in field_errors]
            for name, field_errors in form.errors.get_json_data().items()
            if name in touched
        }
        return JsonResponse({"errors": errors})
