from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from site_config.outbox import OutboxStatus

SUBJECT_MAX_LENGTH = 150
BODY_MAX_LENGTH = 5000


class Message(models.Model):
    """A message to the administrator and the record of its delivery.

    The row is the outbox: it is saved as queued, the relay hands it to the broker, and
    every attempt, its outcome and what the directory knew of the sender are written back
    here.
    """

    Status = OutboxStatus

    # Not final yet: still to be delivered, or being delivered now.
    IN_PROGRESS = (Status.QUEUED, Status.SENDING)

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

    # The id of the web request that wrote it (site_config.request_id): the worker logs
    # every attempt under it. Nullable, so adding it left the table (and the tally's
    # triggers on it) in place on SQLite.
    request_id = models.CharField(  # noqa: DJ001
        _("request id"), max_length=64, null=True, blank=True
    )

    # When the relay handed the message to the broker; empty while it waits for the relay
    # (new, retried, or swept after its task was lost).
    relayed_at = models.DateTimeField(_("relayed"), null=True, blank=True)

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
