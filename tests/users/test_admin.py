import pytest
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="boss@example.org", password="x"))
    return client


def test_staff_can_list_and_search_users(staff_client, user):
    response = staff_client.get(reverse("admin:users_user_changelist"), {"q": "ann.lee"})

    assert response.status_code == 200
    assert user.email in response.content.decode()


def test_staff_can_add_a_user_by_email(staff_client):
    response = staff_client.post(
        reverse("admin:users_user_add"),
        {
            "email": "added@example.org",
            "usable_password": "true",
            "password1": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert User.objects.get(email="added@example.org").check_password(GOOD_PASSWORD)


def test_admin_refuses_an_email_taken_in_another_case(staff_client, user):
    response = staff_client.post(
        reverse("admin:users_user_add"),
        {"email": user.email.upper(), "usable_password": "false"},
    )

    assert response.status_code == 200
    assert "A user with this email already exists." in response.content.decode()
    assert User.objects.filter(is_staff=False).count() == 1


def test_staff_can_open_a_user(staff_client, user):
    response = staff_client.get(reverse("admin:users_user_change", args=[user.pk]))

    assert response.status_code == 200
    assert user.email in response.content.decode()
