import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from common.admin_display import date_and_time
from contact.models import Message
from contact.services import messages_retry
from outbox.admin import CountedFromTheTally, OutcomeFilter, report_retried


class MessageOutcomeFilter(OutcomeFilter):
    status_field = "email__status"


@admin.register(Message)
class MessageAdmin(CountedFromTheTally, admin.ModelAdmin[Message]):
    """What people wrote to the administrator, each with its email's delivery status;
    the delivery record itself (attempts, timeline) is on the email's page. Read-only."""

    # What staff look for first leads, so a phone shows it before the table scrolls. The
    # directory's answer is on each message's page (and a filter), so the list fits
    # beside both sidebars at 1280 px.
    list_display = ("subject", "status", "created", "sender_address")
    list_display_links = ("subject",)
    list_filter = (MessageOutcomeFilter, "email__status", "directory_status", "created_at")
    list_select_related = ("email",)
    # The list is counted from the tally (get_paginator); a second count of the whole
    # table, for "N total" beside a filtered count, would read every row.
    show_full_result_count = False
    search_fields = ("sender_email", "subject")
    search_help_text = _("Searches the subject and the sender's address (as written).")
    fields = (
        "created",
        "account",
        "sender_address",
        "subject",
        "body",
        "status",
        "delivery",
        "directory_status",
        "directory_data_pretty",
    )
    readonly_fields = fields
    actions = ["retry_delivery"]
    # Counted from the tally of the messages' emails (CountedFromTheTally).
    status_field = MessageOutcomeFilter.status_field
    tally_kind = Message.EMAIL_KIND

    created = date_and_time("created_at", _("created"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    @admin.display(description=_("status"), ordering="email__status")
    def status(self, message: Message) -> str:
        return message.email.get_status_display()

    @admin.display(description=_("delivery"))
    def delivery(self, message: Message) -> str:
        url = reverse("admin:outbox_email_change", args=[message.email_id])
        return format_html('<a href="{}">{}</a>', url, _("Attempts and timeline"))

    # Two notions, named apart: the account that wrote the message, as it is now, and the
    # address the message was written from, which replies go to.
    @admin.display(description=_("account"))
    def account(self, message: Message) -> str:
        if message.sender_id is None:
            return pgettext("account", "deleted")
        url = reverse("admin:users_user_change", args=[message.sender_id])
        return format_html('<a href="{}">{}</a>', url, message.sender)

    @admin.display(description=_("sender's address (as written)"), ordering="sender_email")
    def sender_address(self, message: Message) -> str:
        return message.sender_email

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Retrying changes the emails, so it takes their change permission.
        return request.user.has_perm("outbox.change_email")

    @admin.display(description=_("directory data"))
    def directory_data_pretty(self, message: Message) -> str:
        if not message.directory_data:
            return "—"
        pretty = json.dumps(message.directory_data, indent=2, ensure_ascii=False)
        # A region of its own that scrolls, so it can take the keyboard's focus.
        return format_html(
            '<pre class="directory-data" tabindex="0" role="region" aria-label="{}">{}</pre>',
            _("directory data"),
            pretty,
        )

    @admin.action(description=_("Retry delivery"), permissions=["retry"])
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        # Read once, before the retry: a list filtered by outcome no longer holds the
        # retried messages afterwards.
        selected = list(queryset.values_list("pk", flat=True))
        retried = messages_retry(message_ids=selected)
        report_retried(self, request, selected=len(selected), retried=retried)
