import pytest

from users.models import User


@pytest.fixture
def signed_in_key(client, user: User) -> str:
    """The session key of `user`, signed in through the test client."""
    client.force_login(user)
    return client.cookies["sessionid"].value


def account(user: User) -> tuple[object, ...]:
    """What a read of the account must carry, compared whole."""
    return (user.pk, user.email, user.password, user.is_active, user.date_joined)
