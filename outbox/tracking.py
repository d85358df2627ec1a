"""The email provider's reports, as anymail's tracking webhooks pass them on: one
receiver for every provider, which hands each report to outbox.reports."""

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.dispatch import receiver

from outbox.envelope import METADATA_KEY
from outbox.reports import Report, email_report
from outbox.smtp import through_provider


@receiver(tracking, dispatch_uid="outbox.tracking.apply_report")
def apply_report(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    email_report(report(event, esp_name))


def report(event: AnymailTrackingEvent, provider: str) -> Report:
    """The parts of anymail's normalised event that the email's record keeps, as text
    the database can hold."""
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    site_email_id = metadata.get(METADATA_KEY)
    reasons = (event.reject_reason, event.description, event.mta_response)
    return Report(
        provider=text(provider),
        event_type=text(event.event_type),
        event_id=text(event.event_id) if event.event_id else digest(event.esp_event),
        provider_message_id=text(event.message_id) if event.message_id else None,
        site_email_id=text(site_email_id) if site_email_id is not None else None,
        occurred_at=event.timestamp if isinstance(event.timestamp, datetime) else None,
        detail="; ".join(text(reason) for reason in reasons if reason),
    )


def text(value: object) -> str:
    # PostgreSQL's text cannot hold NUL, and a provider's report is not ours to trust.
    return str(value).replace("\x00", "")


def digest(esp_event: object) -> str:
    """An id for a report whose provider gives it none (Postmark's deliveries): the
    same report posted again has the same digest."""
    text = json.dumps(esp_event, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@checks.register(checks.Tags.security, deploy=True)
def check_webhook_secret(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    # A provider without its webhook leaves every email "sent" whatever became of it.
    if not through_provider() or settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return []
    return [
        checks.Warning(
            "EMAIL_BACKEND is an email provider's, but ANYMAIL_WEBHOOK_SECRET is not set: "
            "the tracking webhooks are off, and no email is ever marked delivered or "
            "bounced.",
            hint="Set ANYMAIL_WEBHOOK_SECRET and give the provider its webhook URL with "
            "it (docs/delivery.md).",
            id="outbox.W002",
        )
    ]
