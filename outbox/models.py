from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from outbox.kinds import kind_choices


class EmailStatus(models.TextChoices):
    """Where an email is. The first three are the outbox's own; the rest come from what
    the email provider or a bounce reports once it is sent."""

    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    # Accepted by the mail server or the provider; nothing heard since.
    SENT = "sent", _("Sent")
    # The provider is still trying to hand it to the recipient's mail system.
    DEFERRED = "deferred", _("Deferred")
    DELIVERED = "delivered", _("Delivered")
    # Delivered, and then marked as spam by the recipient's mail system.
    COMPLAINED = "complained", _("Delivered, marked as spam")
    # Not delivered after it left: bounced, rejected or failed at the provider's end.
    BOUNCED = "bounced", _("Bounced")
    # Every attempt failed, or the mail server refused it for good.
    FAILED = "failed", _("Failed")


class Email(models.Model):
    """One email the site sends, of any kind, and the record of its delivery.

    The row is the outbox: it is saved as queued, the relay hands it to the broker, the
    worker renders it through its kind (outbox.kinds) and sends it, and every attempt and
    every report about it goes on its timeline (EmailEvent).
    """

    Status = EmailStatus

    # Not out yet: still to be sent, or being sent now.
    IN_PROGRESS = (Status.QUEUED, Status.SENDING)
    # Did not reach its recipient: refused by the mail server or every attempt failed,
    # or bounced after the provider took it.
    NOT_DELIVERED = (Status.BOUNCED, Status.FAILED)

    # Which email it is; its kind renders it and names its queue (outbox.kinds).
    kind = models.CharField(_("kind"), max_length=32, choices=kind_choices)
    # The recipients as the kind gave them when the email was queued, comma separated.
    to = models.CharField(_("to"), max_length=1000)
    # The account it is sent to, if it goes to one: its emails go with it. Empty for an
    # email to the administrator, and for a password reset until the worker finds the
    # account its address belongs to.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="emails",
        verbose_name=_("account"),
    )
    # The language the email is written in.
    language = models.CharField(_("language"), max_length=16)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # The id of the web request that queued it (common.request_id): the worker logs every
    # attempt under it.
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    # While queued: when the next attempt is due (now, or after a retry's backoff). A row
    # still queued well past it lost its task, and the sweeper hands it back to the relay.
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # While sending: when the attempt's time is up. A row still sending after that lost
    # its worker, and another worker may take it over.
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    # When the relay handed the email to the broker; empty while it waits for the relay
    # (new, retried, or swept after its task was lost).
    relayed_at = models.DateTimeField(_("relayed"), null=True, blank=True)
    # What the email provider called the email when it took it (anymail's
    # `anymail_status.message_id`): its reports name the email by it.
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)

    class Meta:
        # One email sent, not the address that User.email names: two words in Russian.
        verbose_name = pgettext_lazy("a sent email", "email")
        verbose_name_plural = _("emails")
        ordering = ["-created_at"]
        indexes = [
            # The admin list: newest first, optionally filtered by status or kind; the
            # index page's count of recent failures.
            models.Index(fields=["status", "-created_at"], name="outbox_email_status_created"),
            models.Index(fields=["kind", "-created_at"], name="outbox_email_kind_created"),
            models.Index(fields=["-created_at"], name="outbox_email_created"),
            # An account's emails of a kind: the sign-up notice's interval, its admin page.
            models.Index(fields=["user", "kind", "-created_at"], name="outbox_email_user_kind"),
            # A provider's report names the email by the provider's id.
            models.Index(fields=["provider_message_id"], name="outbox_email_provider_id"),
            # The sweeper's two questions: queued and overdue, sending and abandoned.
            models.Index(fields=["status", "next_attempt_at"], name="outbox_email_status_due"),
            models.Index(fields=["status", "lease_expires_at"], name="outbox_email_status_lease"),
            # The relay's question: queued and not handed to the broker yet, oldest first.
            models.Index(
                fields=["id"],
                condition=models.Q(status="queued", relayed_at__isnull=True),
                name="outbox_email_awaiting_relay",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to}"


class EmailEvent(models.Model):
    """One entry of an email's timeline: an attempt to send it, a report of what became
    of it, or staff queueing it again."""

    class Kind(models.TextChoices):
        ATTEMPT = "attempt", _("Attempt")
        REPORT = "report", _("Provider report")
        # Staff queued it again (failed or bounced): a fresh round of attempts.
        RETRY = "retry", _("Queued again")

    email = models.ForeignKey(
        Email,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=pgettext_lazy("a sent email", "email"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    # When the attempt started, or when the report says the event happened.
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    # An attempt's outcome (sent, retry, failed), or the report's type in anymail's
    # words (delivered, bounced, deferred, complained, opened...).
    event_type = models.CharField(_("event"), max_length=32)
    # The status the report stands for, blank for one that stands for none (an open, a
    # click); for an attempt, the status it left the email in.
    status = models.CharField(_("status"), max_length=16, choices=Email.Status, blank=True)
    # Whether the report moved the email to that status: an older or a weaker report
    # (deferred after delivered) is kept but changes nothing.
    applied = models.BooleanField(_("applied"), default=False)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # The mail server's error, or the provider's reason and its mail server's reply.
    detail = models.TextField(_("detail"), blank=True)
    # Blank for an SMTP server or a bounce; else anymail's name of the provider.
    provider = models.CharField(_("provider"), max_length=32, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    # A report's own id (anymail's event_id, or a digest of the report when the provider
    # gives none): the same report posted again is recognised and applied once. Null for
    # attempts, which the unique constraint then leaves alone.
    provider_event_id = models.CharField(  # noqa: DJ001
        _("provider event id"), max_length=255, null=True, blank=True
    )

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["occurred_at", "pk"]
        indexes = [
            models.Index(fields=["email", "occurred_at"], name="outbox_event_email_when"),
            # The admin index's question: what failed or bounced lately.
            models.Index(fields=["status", "occurred_at"], name="outbox_event_status_when"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_event_id"], name="outbox_event_reported_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} ({self.occurred_at:%Y-%m-%d %H:%M:%S})"


class EmailTally(models.Model):
    """How many emails of each kind are in each status, kept by the database itself.

    Triggers on the email table (migration 0001) add and subtract as rows are inserted,
    change status or are deleted, whoever writes them, so the admin header and the
    metrics read a few dozen rows however many emails there are, and the counts stay
    exact. On PostgreSQL each statement's change goes to one of TALLY_SHARDS rows per
    kind and status, picked at random, so concurrent writers seldom wait on the same
    row; a count is the sum of its rows.
    """

    shard = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Email.Status)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # What the triggers' upserts are keyed on.
            models.UniqueConstraint(
                fields=["shard", "kind", "status"], name="outbox_tally_shard_kind_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} #{self.shard}: {self.count}"
