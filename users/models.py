from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from outbox.models import Email
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

    @property
    def confirmation_undelivered(self) -> bool:
        """Whether the newest link sent to confirm the address did not get there (it
        bounced, or every attempt failed): the person is told, and may fix the address."""
        newest = (
            self.emails.filter(kind=AccountEmailKind.VERIFY_ADDRESS)
            .order_by("-created_at", "-pk")
            .values_list("status", flat=True)
            .first()
        )
        return newest in Email.NOT_DELIVERED


class AccountEmailKind(models.TextChoices):
    """The emails the site sends a person about their account (outbox.kinds; users.apps
    registers them). Rendered in the worker from the account as it is then, so that no
    link's token is ever stored (users.emails)."""

    VERIFY_ADDRESS = "verify_address", _("Address confirmation")
    SIGN_UP_ATTEMPT = "sign_up_attempt", _("Sign-up with a registered address")
    PASSWORD_RESET = "password_reset", _("Password reset")
