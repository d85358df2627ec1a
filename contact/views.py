from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.generic import DetailView, FormView, ListView, TemplateView

from common.form_views import (
    FormValidationView,
    HtmxFormMixin,
    HtmxLoginRequiredMixin,
    HtmxTemplateMixin,
)
from common.rate_limits import refusal
from contact.forms import MessageForm
from contact.models import Message
from contact.progress import poll_every, progress, timeline
from contact.selectors import messages_of
from contact.services import MessageRateLimited, SenderUnconfirmed, message_create
from users.http import AuthenticatedHttpRequest


class HomeView(TemplateView):
    """Visitors are invited to sign up or sign in; signed-in people write from here."""

    template_name = "home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Until the address is confirmed, the page says how, in place of the form.
        if self.request.user.is_authenticated and self.request.user.email_verified:
            context["form"] = MessageForm()
        return context


class MessageCreateView(HtmxLoginRequiredMixin, HtmxFormMixin[MessageForm], FormView[MessageForm]):
    """Writes a message to the administrator.

    By htmx, success swaps in a blank form and puts a confirmation that names the
    message and its status into the page's status line; a plain POST redirects home
    with the same confirmation.
    """

    request: AuthenticatedHttpRequest
    form_class = MessageForm
    template_name = "home.html"
    partial_template_name = "partials/message_form.html"

    def form_valid(self, form: MessageForm) -> HttpResponse:
        try:
            message = message_create(
                sender=self.request.user,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
        except SenderUnconfirmed:
            form.add_error(None, UNCONFIRMED_MESSAGE)
            return self.form_refused(form, status=403)
        except MessageRateLimited as limited:
            limit = settings.MESSAGES_PER_HOUR
            sent = ngettext(
                "You have sent %(limit)d message in the last hour.",
                "You have sent %(limit)d messages in the last hour.",
                limit,
            ) % {"limit": limit}
            form.add_error(None, refusal(sent, limited.retry_in))
            return self.form_refused(form, status=429)
        if self.request.htmx:
            answer = {
                "form": MessageForm(),
                "message": message,
                "confirmation": confirmation(message),
            }
            return render(self.request, "partials/message_sent.html", answer)
        messages.success(self.request, confirmation(message))
        return HttpResponseRedirect(reverse("home"))


UNCONFIRMED_MESSAGE = gettext_lazy(
    "Confirm your email address first: follow the link we emailed you, or ask for a new one "
    "on the home page."
)


def confirmation(message: Message) -> str:
    """What the person is told once their message is written, in the words "My messages"
    uses for it (contact.progress): it is on its way."""
    return gettext("Your message “%(subject)s” is on its way to the administrator.") % {
        "subject": message.subject
    }


class MessageListView(HtmxLoginRequiredMixin, HtmxTemplateMixin, ListView[Message]):
    """A person's own messages and where each one is. While any shown is still queued
    or sending, the list asks for itself again every few seconds (htmx); while a sent
    one may still be reported delivered or bounced, every half minute; and it stops once
    nothing shown can change (contact.progress.poll_every)."""

    request: AuthenticatedHttpRequest
    template_name = "contact/message_list.html"
    # The list alone, which replaces itself on each poll.
    partial_template_name = "partials/message_list.html"
    paginate_by = 20

    def get_queryset(self) -> QuerySet[Message]:
        return messages_of(self.request.user)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = [(message, progress(message)) for message in context["object_list"]]
        context["poll_every"] = poll_every(context["object_list"])
        return context


class MessageDetailView(HtmxLoginRequiredMixin, HtmxTemplateMixin, DetailView[Message]):
    """One of a person's own messages, to reread, with where it is in plain words. Like
    the list, it asks for its progress again every few seconds until it is final."""

    request: AuthenticatedHttpRequest
    template_name = "contact/message_detail.html"
    # The progress alone, which replaces itself on each poll.
    partial_template_name = "partials/message_progress.html"
    context_object_name = "message"

    def get_queryset(self) -> QuerySet[Message]:
        # Someone else's message is not found, not forbidden: its existence stays private.
        return messages_of(self.request.user)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["progress"] = progress(self.object)
        context["timeline"] = timeline(self.object)
        context["poll_every"] = poll_every([self.object])
        return context


class MessageValidationView(HtmxLoginRequiredMixin, FormValidationView):
    form_class = MessageForm
