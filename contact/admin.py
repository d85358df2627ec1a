import json
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from django_dramatiq.models import Task

from common.admin_display import date_and_time
from contact.models import DeliveryEvent, Message
from contact.selectors import message_counts_by_status
from contact.services import messages_retry


class OutcomeFilter(admin.SimpleListFilter):
    """The header's three groups (contact.selectors.message_counts), which its numbers
    link to."""

    title = _("outcome")
    parameter_name = "outcome"
    GROUPS: dict[str, list[str]] = {
        "over": [s for s in Message.Status.values if s not in Message.IN_PROGRESS],
        "not_delivered": list(Message.NOT_DELIVERED),
        "waiting": list(Message.IN_PROGRESS),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("over", gettext("Attempts over (counted as sent)")),
            ("not_delivered", gettext("Not delivered (failed or bounced)")),
            ("waiting", gettext("Waiting (queued or sending)")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        statuses = self.GROUPS.get(self.value() or "")
        return queryset if statuses is None else queryset.filter(status__in=statuses)


class CountedPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator told its count, rather than counting the rows itself."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        *,
        count: int,
    ) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.known_count = count

    @property
    def count(self) -> int:
        return self.known_count


def listed_statuses(parameters: dict[str, str]) -> list[str] | None:
    """The statuses a changelist's query string narrows the list to, when nothing else
    narrows it (no search, no date, no other filter); None otherwise."""
    narrowing = {name: value for name, value in parameters.items() if name not in {"p", "o"}}
    if not narrowing:
        return list(Message.Status.values)
    if len(narrowing) != 1:
        return None
    [(name, value)] = narrowing.items()
    if name == "status__exact" and value in Message.Status.values:
        return [value]
    if name == OutcomeFilter.parameter_name:
        return OutcomeFilter.GROUPS.get(value)
    return None


class DeliveryEventInline(admin.TabularInline[DeliveryEvent, Message]):
    """The message's timeline: every attempt and every report, in order."""

    model = DeliveryEvent
    verbose_name = _("timeline entry")
    verbose_name_plural = _("timeline")
    # Django's tabular inline without its two unnamed columns (the row's title and
    # "Delete?"), which a read-only timeline leaves empty.
    template = "admin/contact/message/timeline.html"
    fields = (
        "when",
        "kind",
        "event_type",
        "status",
        "applied",
        "duration_ms",
        "provider",
        "detail",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    when = date_and_time("occurred_at", _("when"))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    """Delivery records: read-only, since each field is written by delivery itself."""

    # What staff look for first leads, so a phone shows it before the table scrolls. The
    # attempts and the directory's answer are on each message's page (the answer is a
    # filter too), so the list fits beside both sidebars at 1280 px.
    list_display = ("subject", "status", "created", "sender_address")
    list_display_links = ("subject",)
    list_filter = (OutcomeFilter, "status", "directory_status", "created_at")
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
        "attempts",
        "sent",
        "provider_message_id",
        "last_error",
        "directory_status",
        "directory_data_pretty",
    )
    readonly_fields = fields
    inlines = [DeliveryEventInline]
    actions = ["retry_delivery"]

    created = date_and_time("created_at", _("created"))
    sent = date_and_time("sent_at", _("sent"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

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

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Message],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:  # type: ignore[type-arg]
        """The whole list, or one status or group, is counted from the tally, as the
        header is: exact, and a few rows read however many messages there are. Any other
        filter or a search counts the rows it matches."""
        statuses = listed_statuses(request.GET.dict())
        if statuses is None:
            return super().get_paginator(
                request, queryset, per_page, orphans, allow_empty_first_page
            )
        by_status = message_counts_by_status()
        count = sum(by_status[status] for status in statuses)
        return CountedPaginator(queryset, per_page, orphans, allow_empty_first_page, count=count)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Retrying changes rows, so it takes the model's change permission, which the
        # read-only pages above otherwise leave unused.
        return request.user.has_perm("contact.change_message")

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
        skipped = len(selected) - retried
        queued_again = ngettext(
            "%(count)d message queued for delivery again.",
            "%(count)d messages queued for delivery again.",
            retried,
        )
        self.message_user(request, queued_again % {"count": retried})
        if skipped:
            not_failed = ngettext(
                "%(count)d message skipped: only failed or bounced messages can be retried.",
                "%(count)d messages skipped: only failed or bounced messages can be retried.",
                skipped,
            )
            self.message_user(request, not_failed % {"count": skipped}, messages.WARNING)


# django-dramatiq's task log would stay empty: the delivery records above are the log.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)
