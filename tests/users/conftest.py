from users.models import User


def account(user: User) -> tuple[object, ...]:
    """What a read of the account must carry, compared whole."""
    return (user.pk, user.email, user.password, user.is_active, user.date_joined)
