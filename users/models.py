from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from site_config.outbox import OutboxStatus
from users.addresses import normalize_email, validate_domain_name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # Addresses are stored in the one form they are compared in (users.addresses),
        # so the plain unique constraint is the case- and form-blind rule, on any database.
        return normalize_email(email or "")

    def get_by_natural_key(self, email: str | None) -> "User":
        # People type their address in any case or form; the account is the same one.
        return self.get(email=self.normalize_email(email))

    def create_user(self, email: str, password: str | None = None, **extra_fields: Any) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        # An operator made it (`createsuperuser`): the address is theirs to vouch for.
        extra_fields.setdefault("email_verified_at", timezone.now())
        if not (extra_fields["is_staff"] and extra_fields["is_superuser"]):
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self.create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their email address; there is no username."""

    # Always in users.addresses' form, so that unique means "not the same address".
    email = models.EmailField(
        _("email"),
        max_length=254,
        unique=True,
        validators=[validate_domain_name],
        error_messages={"unique": _("A user with this email already exists.")},
    )
    # Set when the person followed the link emailed to the address (or reset their
    # password through it): only then is the address known to be theirs.
    email_verified_at = models.DateTimeField(_("email verified"), null=True, blank=True)
    # How many times the address has been confirmed. Every confirmation link carries the
    # count it was sent at, and only ever rises, so a link once used stays dead whatever
    # happens to the date above (users.tokens). Not shown to staff, who cannot lower it.
    email_confirmations = models.PositiveIntegerField(_("address confirmations"), default=0)
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Designates whether the user can sign in to the admin site."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Unselect this instead of deleting the account."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        # Model forms (the admin's included) run this before the unique check.
        super().clean()
        self.email = normalize_email(self.email)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class AccountEmail(models.Model):
    """An email the site sends a person about their account, and the record of its
    delivery: the outbox row, relayed to the worker as messages are, and rendered there,
    so that a request never waits on SMTP and no link's token is ever stored.

    These are not messages to the administrator: the admin header does not count them.
    """

    class Kind(models.TextChoices):
        VERIFY_ADDRESS = "verify_address", _("Address confirmation")
        SIGN_UP_ATTEMPT = "sign_up_attempt", _("Sign-up with a registered address")
        PASSWORD_RESET = "password_reset", _("Password reset")

    Status = OutboxStatus

    # Nothing to tell an account that is gone. Empty only on a password reset not sent
    # yet: the worker finds its account by `address` (users.services).
    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="account_emails",
        verbose_name=_("user"),
    )
    # The address a password reset was asked for, in users.addresses' form: every request
    # writes this one row whoever the address belongs to, so its time tells nothing.
    address = models.EmailField(_("address asked for"), max_length=254, blank=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind)
    # The language the person used the site in when the email was asked for.
    language = models.CharField(_("language"), max_length=16)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    relayed_at = models.DateTimeField(_("relayed"), null=True, blank=True)

    class Meta:
        verbose_name = _("account email")
        verbose_name_plural = _("account emails")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "kind", "-created_at"], name="users_acctmail_user_kind"),
            models.Index(fields=["status", "next_attempt_at"], name="users_acctmail_status_due"),
            models.Index(fields=["status", "lease_expires_at"], name="users_acctmail_status_lease"),
            models.Index(
                fields=["id"],
                condition=models.Q(status="queued", relayed_at__isnull=True),
                name="users_acctmail_awaiting_relay",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | ~models.Q(address=""),
                name="users_acctmail_has_recipient",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.user or self.address}"
