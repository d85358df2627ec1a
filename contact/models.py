from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from site_config.outbox import OutboxStatus

SUBJECT_MAX_LENGTH = 150
BODY_MAX_LENGTH = 5000


class MessageStatus(models.TextChoices):
    """Where a message is. The first four are the outbox's (site_config.outbox), the same
    values; the rest come from what the email provider reports once a message is sent."""

    QUEUED = OutboxStatus.QUEUED.value, OutboxStatus.QUEUED.label
    SENDING = OutboxStatus.SENDING.value, OutboxStatus.SENDING.label
    # Accepted by the mail server or the provider; nothing heard since.
    SENT = OutboxStatus.SENT.value, OutboxStatus.SENT.label
    # The provider is still trying to hand it to the administrator's mail system.
    DEFERRED = "deferred", _("Deferred")
    DELIVERED = "delivered", _("Delivered")
    # Delivered, and then marked as spam by the administrator's mail system.
    COMPLAINED = "complained", _("Delivered, marked as spam")
    # The provider could not deliver it: bounced, rejected or failed at its end.
    BOUNCED = "bounced", _("Bounced")
    # Every attempt failed, or the mail server refused it for good.
    FAILED = OutboxStatus.FAILED.value, OutboxStatus.FAILED.label


class Message(models.Model):
    """A message to the administrator and the record of its delivery.

    The row is the outbox: it is saved as queued, the relay hands it to the broker, and
    every attempt, its outcome and what the directory knew of the sender are written back
    here.
    """

    Status = MessageStatus

    # Not out yet: still to be delivered, or being delivered now.
    IN_PROGRESS = (Status.QUEUED, Status.SENDING)
    # Did not reach the administrator: refused by the mail server or every attempt
    # failed, or bounced after the provider took it.
    NOT_DELIVERED = (Status.BOUNCED, Status.FAILED)

    class DirectoryStatus(models.TextChoices):
        FOUND = "found", _("Found")
        NOT_FOUND = "not_found", _("Not found")
        UNAVAILABLE = "unavailable", _("Unavailable")
        # The sender's address was not confirmed as theirs: nothing is looked up.
        UNCONFIRMED = "unconfirmed", _("Not looked up (address not confirmed)")

    # Kept when the account goes: the delivery record is the administrator's history.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="messages",
        verbose_name=_("sender"),
    )
    # The address as it was when the message was written; replies go here.
    sender_email = models.EmailField(_("sender email"), max_length=254)
    # Whether that address was confirmed as the sender's when they wrote: only then is it
    # looked up in the directory and what is found attached. Empty for messages written
    # before addresses were confirmed (and nullable so that adding it left the table, and
    # the tally's triggers on it, in place on SQLite).
    sender_email_confirmed = models.BooleanField(_("sender email confirmed"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=SUBJECT_MAX_LENGTH)
    body = models.TextField(_("message"), validators=[MaxLengthValidator(BODY_MAX_LENGTH)])
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    # While queued: when the next attempt is due (now, or after a retry's backoff). A row
    # still queued well past it lost its task, and the sweeper enqueues it again.
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # While sending: when the attempt's time is up. A row still sending after that lost
    # its worker, and another worker may take it over.
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)

    # The id of the web request that wrote it (common.request_id): the worker logs
    # every attempt under it. Nullable, so adding it left the table (and the tally's
    # triggers on it) in place on SQLite.
    request_id = models.CharField(  # noqa: DJ001
        _("request id"), max_length=64, null=True, blank=True
    )

    # When the relay handed the message to the broker; empty while it waits for the relay
    # (new, retried, or swept after its task was lost).
    relayed_at = models.DateTimeField(_("relayed"), null=True, blank=True)

    # What the email provider called the email when it took it (anymail's
    # `anymail_status.message_id`): its reports name the message by it. Nullable, as
    # request_id is, so that adding it left the table in place on SQLite.
    provider_message_id = models.CharField(  # noqa: DJ001
        _("provider message id"), max_length=255, null=True, blank=True
    )

    # Blank until the first attempt has asked the directory.
    directory_status = models.CharField(
        _("directory"), max_length=16, choices=DirectoryStatus, blank=True
    )
    # Every user object the directory returned for the sender's address.
    directory_data = models.JSONField(_("directory data"), default=list, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at"]
        indexes = [
            # The admin list: newest first, optionally filtered by status; the header's
            # count of failed rows.
            models.Index(fields=["status", "-created_at"], name="contact_msg_status_created"),
            models.Index(fields=["-created_at"], name="contact_msg_created"),
            # A person's recent messages: the hourly limit, and their own list.
            models.Index(fields=["sender", "-created_at"], name="contact_msg_sender_created"),
            models.Index(fields=["directory_status"], name="contact_msg_directory_status"),
            # A provider's report names the message by the provider's id.
            models.Index(fields=["provider_message_id"], name="contact_msg_provider_id"),
            # The sweeper's two questions: queued and overdue, sending and abandoned.
            models.Index(fields=["status", "next_attempt_at"], name="contact_msg_status_due"),
            models.Index(fields=["status", "lease_expires_at"], name="contact_msg_status_lease"),
            # The relay's question: queued and not handed to the broker yet, oldest first.
            models.Index(
                fields=["id"],
                condition=models.Q(status="queued", relayed_at__isnull=True),
                name="contact_msg_awaiting_relay",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class DeliveryEvent(models.Model):
    """One entry of a message's timeline: an attempt to send it, or a report from the
    email provider about what became of it."""

    class Kind(models.TextChoices):
        ATTEMPT = "attempt", _("Attempt")
        REPORT = "report", _("Provider report")
        # Staff queued it again (failed or bounced): a fresh round of attempts.
        RETRY = "retry", _("Queued again")

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="events", verbose_name=_("message")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    # When the attempt started, or when the provider says the event happened.
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    # An attempt's outcome (sent, retry, failed), or the report's type in anymail's
    # words (delivered, bounced, deferred, complained, opened...).
    event_type = models.CharField(_("event"), max_length=32)
    # The status the report stands for, blank for one that stands for none (an open, a
    # click); for an attempt, the status it left the message in.
    status = models.CharField(_("status"), max_length=16, choices=Message.Status, blank=True)
    # Whether the report moved the message to that status: an older or a weaker report
    # (deferred after delivered) is kept but changes nothing.
    applied = models.BooleanField(_("applied"), default=False)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # The mail server's error, or the provider's reason and its mail server's reply.
    detail = models.TextField(_("detail"), blank=True)
    # Blank for an SMTP server; else anymail's name of the provider ("Postmark").
    provider = models.CharField(_("provider"), max_length=32, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    # A report's own id (anymail's event_id, or a digest of the report when the provider
    # gives none): the same report posted again is recognised and applied once.
    provider_event_id = models.CharField(  # noqa: DJ001
        _("provider event id"), max_length=255, null=True, blank=True
    )

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["occurred_at", "pk"]
        indexes = [
            models.Index(fields=["message", "occurred_at"], name="contact_event_message_when")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_event_id"], name="contact_event_reported_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} ({self.occurred_at:%Y-%m-%d %H:%M:%S})"


class MessageTally(models.Model):
    """How many messages are in each status, kept by the database itself.

    Triggers on the message table (migration 0006) add and subtract as rows are
    inserted, change status or are deleted, whoever writes them, so the admin header and
    the metrics read a few dozen rows however many messages there are, and the counts
    stay exact. On PostgreSQL each statement's change goes to one of TALLY_SHARDS rows
    per status, picked at random, so concurrent writers seldom wait on the same row; a
    count is the sum of its status's rows.
    """

    shard = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Message.Status)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # What the triggers' upserts are keyed on.
            models.UniqueConstraint(fields=["shard", "status"], name="contact_tally_shard_status")
        ]

    def __str__(self) -> str:
        return f"{self.status} #{self.shard}: {self.count}"
