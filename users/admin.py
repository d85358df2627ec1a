from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from common.admin_display import DATETIME_INPUT_FORMAT, date_and_time
from users.models import User

# The account's newest emails its page lists; the rest are a link away.
EMAILS_SHOWN = 5


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"
        # The site's word for it, as in the list's column and filter.
        labels = {"email_verified_at": capfirst(_("address confirmed"))}


class AddressConfirmedFilter(admin.SimpleListFilter):
    """Whether the person confirmed their address, in those words: the date it was
    confirmed is set or empty."""

    title = _("address confirmation")
    parameter_name = "confirmed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Confirmed")), ("no", _("Not confirmed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "yes":
            return queryset.filter(email_verified_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(email_verified_at__isnull=True)
        return queryset


# django-stubs bounds UserAdmin to AbstractUser; Django's serves any model whose fields it names.
@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):  # type: ignore[type-var]
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ("email",)
    list_display = ("email", "verified", "is_staff", "is_active", "joined", "last_sign_in")
    list_filter = ("is_staff", "is_superuser", "is_active", AddressConfirmedFilter)
    search_fields = ("email",)
    readonly_fields = ("joined", "last_sign_in", "messages_written", "emails_sent")
    # Plain multiple selects: the two-box filter widget labels its icons in a way screen
    # readers are not given (aria-label on a bare span), and the plain select is usable.
    filter_horizontal = ()
    # One labelled input for a date and time: the admin's split widget leaves its two
    # inputs without a label of their own. The field reads that one input too: the
    # admin's default field expects the split widget's two values.
    formfield_overrides = {
        models.DateTimeField: {
            "form_class": forms.DateTimeField,
            "widget": forms.DateTimeInput(
                format=DATETIME_INPUT_FORMAT, attrs={"class": "vTextField"}
            ),
        }
    }
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "email",
                    "email_verified_at",
                    "password",
                    "messages_written",
                    "emails_sent",
                )
            },
        ),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_sign_in", "joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    verified = date_and_time("email_verified_at", _("address confirmed"))
    joined = date_and_time("date_joined", _("date joined"))
    last_sign_in = date_and_time("last_login", _("last login"))

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        # Staff who may not view messages see neither their number nor the link to them;
        # staff who may not view emails do not see the account's.
        hidden = {
            field
            for field, permission in (
                ("messages_written", "contact.view_message"),
                ("emails_sent", "outbox.view_email"),
            )
            if not request.user.has_perm(permission)
        }
        if not hidden:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    @admin.display(description=_("messages"))
    def messages_written(self, user: User) -> str:
        """How many messages the person wrote, linking to the message list of theirs."""
        count = user.messages.count()
        # By the sender's id, not the address, which can change; a lookup on the message's
        # own foreign key, which the admin allows without a list filter (and the one
        # Django's filter for that field would use).
        query = urlencode({"sender__id__exact": user.pk})
        url = f"{reverse('admin:contact_message_changelist')}?{query}"
        label = ngettext("%(count)d message", "%(count)d messages", count) % {"count": count}
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=_("emails sent to the account"))
    def emails_sent(self, user: User) -> str:
        """The account's newest emails and how each went, so that staff helping someone
        whose link never came see at once that it bounced or failed; linking to them all."""
        emails = list(user.emails.order_by("-created_at", "-pk")[:EMAILS_SHOWN])
        query = urlencode({"user__id__exact": user.pk})
        every = format_html(
            '<a href="{}?{}">{}</a>', reverse("admin:outbox_email_changelist"), query, _("All")
        )
        if not emails:
            return format_html("{} ({})", _("None yet"), every)
        rows = format_html_join(
            "",
            '<li class="email-{}"><a href="{}">{}</a>: {}</li>',
            (
                (
                    email.status,
                    reverse("admin:outbox_email_change", args=[email.pk]),
                    email.get_kind_display(),
                    email.get_status_display(),
                )
                for email in emails
            ),
        )
        return format_html('<ul class="account-emails">{}</ul>{}', rows, every)
