from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_dramatiq.models import Task

from common.admin_display import date_and_time
from outbox.models import Email, EmailEvent
from outbox.selectors import email_counts
from outbox.services import emails_retry


class OutcomeFilter(admin.SimpleListFilter):
    """Emails in three groups: attempts over, not delivered, waiting. The admin header's
    numbers and the index's warning of failures link to them."""

    title = _("outcome")
    parameter_name = "outcome"
    # The status field, as a lookup from the listed model.
    status_field = "status"
    GROUPS: dict[str, list[str]] = {
        "over": [s for s in Email.Status.values if s not in Email.IN_PROGRESS],
        "not_delivered": list(Email.NOT_DELIVERED),
        "waiting": list(Email.IN_PROGRESS),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("over", gettext("Attempts over (counted as sent)")),
            ("not_delivered", gettext("Not delivered (failed or bounced)")),
            ("waiting", gettext("Waiting (queued or sending)")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        statuses = self.GROUPS.get(self.value() or "")
        if statuses is None:
            return queryset
        return queryset.filter(**{f"{self.status_field}__in": statuses})


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


def listed_statuses(
    parameters: dict[str, str], *, status_field: str = "status"
) -> list[str] | None:
    """The statuses a changelist's query string narrows the list to, when nothing else
    narrows it (no search, no date, no other filter); None otherwise."""
    narrowing = {name: value for name, value in parameters.items() if name not in {"p", "o"}}
    if not narrowing:
        return list(Email.Status.values)
    if len(narrowing) != 1:
        return None
    [(name, value)] = narrowing.items()
    if name == f"{status_field}__exact" and value in Email.Status.values:
        return [value]
    if name == OutcomeFilter.parameter_name:
        return OutcomeFilter.GROUPS.get(value)
    return None


class EmailEventInline(admin.TabularInline[EmailEvent, Email]):
    """The email's timeline: every attempt and every report, in order."""

    model = EmailEvent
    verbose_name = _("timeline entry")
    verbose_name_plural = _("timeline")
    # Django's tabular inline without its two unnamed columns (the row's title and
    # "Delete?"), which a read-only timeline leaves empty.
    template = "admin/outbox/email/timeline.html"
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


class CountedFromTheTally:
    """Mixed into a model admin whose list is of emails, or of rows with one email each:
    the whole list, or one status or group, is counted from the tally, as the header is:
    exact, and a few rows read however many there are. Any other filter or a search
    counts the rows it matches."""

    # The status field, as a lookup from the listed model; the kind of email it lists.
    status_field = "status"
    tally_kind: str | None = None

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:  # type: ignore[type-arg]
        statuses = listed_statuses(request.GET.dict(), status_field=self.status_field)
        if statuses is None:
            return Paginator(queryset, per_page, orphans, allow_empty_first_page)
        by_status = email_counts(kind=self.tally_kind)
        count = sum(by_status[status] for status in statuses)
        return CountedPaginator(queryset, per_page, orphans, allow_empty_first_page, count=count)


@admin.register(Email)
class EmailAdmin(CountedFromTheTally, admin.ModelAdmin[Email]):
    """Every email the site sent or is sending: read-only, since each field is written
    by delivery itself."""

    list_display = ("__str__", "kind", "status", "created", "attempts")
    list_filter = (OutcomeFilter, "kind", "status", "created_at")
    # The list is counted from the tally (get_paginator); a second count of the whole
    # table, for "N total" beside a filtered count, would read every row.
    show_full_result_count = False
    search_fields = ("to",)
    search_help_text = _("Searches the recipients' addresses.")
    fields = (
        "kind",
        "to",
        "account",
        "language",
        "created",
        "status",
        "attempts",
        "sent",
        "provider_message_id",
        "last_error",
        "request_id",
    )
    readonly_fields = fields
    inlines = [EmailEventInline]
    actions = ["retry_delivery"]

    created = date_and_time("created_at", _("created"))
    sent = date_and_time("sent_at", _("sent"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Email | None = None) -> bool:
        return False

    @admin.display(description=_("account"))
    def account(self, email: Email) -> str:
        if email.user_id is None:
            return "—"
        url = reverse("admin:users_user_change", args=[email.user_id])
        return format_html('<a href="{}">{}</a>', url, email.user)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Retrying changes rows, so it takes the model's change permission, which the
        # read-only pages above otherwise leave unused.
        return request.user.has_perm("outbox.change_email")

    @admin.action(description=_("Retry delivery"), permissions=["retry"])
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[Email]) -> None:
        # Read once, before the retry: a list filtered by outcome no longer holds the
        # retried emails afterwards.
        selected = list(queryset.values_list("pk", flat=True))
        report_retried(
            self, request, selected=len(selected), retried=emails_retry(email_ids=selected)
        )


def report_retried(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, *, selected: int, retried: int
) -> None:
    """Tell staff how many of the emails they chose were queued again, and why the rest
    were not."""
    skipped = selected - retried
    queued_again = ngettext(
        "%(count)d email queued for delivery again.",
        "%(count)d emails queued for delivery again.",
        retried,
    )
    model_admin.message_user(request, queued_again % {"count": retried})
    if skipped:
        not_failed = ngettext(
            "%(count)d email skipped: only failed or bounced emails can be retried.",
            "%(count)d emails skipped: only failed or bounced emails can be retried.",
            skipped,
        )
        model_admin.message_user(request, not_failed % {"count": skipped}, messages.WARNING)


# django-dramatiq's task log would stay empty: the delivery records above are the log.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)
