"""The emails the site sends a person about their account, rendered from templates in
the language they used the site in (templates/users/email/), their links under SITE_URL.

Never under the request's host: ALLOWED_HOSTS checks a host's name and not its port,
so a request could otherwise choose where the links in someone's email point."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from outbox.models import Email
from users.models import AccountEmailKind, User
from users.services import password_reset_account
from users.tokens import verification_token


def account_email(email: Email) -> EmailMessage | None:
    """The account email `email` is, rendered for an attempt from the account as it is
    now (outbox.kinds): to the account it was queued for, or for a password reset, the
    account its address belongs to now (set on the row). None when there is none."""
    user = email.user or password_reset_account(email.to)
    if user is None:
        return None
    email.user = user
    site_url = settings.SITE_URL
    context = {"user": user, "site_url": site_url, **_links(email.kind, user, site_url)}
    with translation.override(email.language):
        subject = render_to_string(f"users/email/{email.kind}_subject.txt", context)
        body = render_to_string(f"users/email/{email.kind}_body.txt", context)
    return EmailMessage(
        subject="".join(subject.splitlines()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )


def _links(kind: str, user: User, site_url: str) -> dict[str, object]:
    if kind == AccountEmailKind.VERIFY_ADDRESS:
        token = verification_token(user)
        return {
            "confirm_url": site_url + reverse("email-confirm", args=[token]),
            "expires_in_hours": int(settings.EMAIL_VERIFICATION_MAX_AGE.total_seconds() // 3600),
        }
    if kind == AccountEmailKind.PASSWORD_RESET:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        return {
            "reset_url": site_url + reverse("password_reset_confirm", args=[uid, token]),
            "expires_in_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
        }
    return {
        "sign_in_url": site_url + reverse("login"),
        "reset_url": site_url + reverse("password_reset"),
    }
