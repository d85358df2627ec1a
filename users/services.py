from django.db import IntegrityError, transaction

from users.models import User


class EmailAlreadyRegistered(Exception):
    """Another account holds this address, in some case."""


def user_register(*, email: str, password: str) -> User:
    """Create an account that signs in with `email` and `password`.

    The form has already checked the address is free; two sign-ups racing for it are
    settled by the database's case-blind unique constraint, which this turns into
    EmailAlreadyRegistered.
    """
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError as error:
        if User.objects.with_email(email).exists():
            raise EmailAlreadyRegistered(email) from error
        raise
