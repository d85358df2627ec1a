"""No admin page shows a credential: not a password (typed or hashed), a session key, a
CSRF token or a signed link, whatever staff open. The header's counts show only to staff
who may view messages."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from contact.services import message_create
from tests.conftest import GOOD_PASSWORD, make_person
from users.models import AccountEmailKind, User
from users.services import account_email_queue
from users.tokens import verification_token

pytestmark = pytest.mark.django_db

TYPED = "my-wrong-guess-7741"


def every_admin_page(client: Client) -> dict[str, str]:
    """Every list the admin's index links to, and the change page of each list's first
    row, as these staff see them."""
    index = client.get("/admin/").content.decode()
    pages = {"/admin/": index}
    for changelist in sorted(set(re.findall(r'href="(/admin/\w+/\w+/)"', index))):
        html = client.get(changelist).content.decode()
        pages[changelist] = html
        first = re.search(rf'href="({changelist}[^"/]+/change/)', html)
        if first:
            pages[first[1]] = client.get(first[1]).content.decode()
    return pages


def test_no_admin_page_shows_a_credential(client, smtp_sink):
    person = make_person("ann@example.org")
    message_create(sender=person, subject="Hello", body="Hi")
    # A wrong guess at the sign-in form leaves an attempt on record (django-axes).
    guesser = Client()
    guesser.get("/accounts/login/")
    guesser.post("/accounts/login/", {"username": person.email, "password": TYPED})
    signed_in = Client()
    signed_in.force_login(person)
    account_email_queue(user=person, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")
    staff = User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD)
    client.force_login(staff)

    pages = every_admin_page(client)

    assert len(pages) > 10
    secrets = {
        "a typed password": TYPED,
        "a password hash": person.password.rsplit("$", 1)[-1],
        "a session key": signed_in.session.session_key,
        "the staff's session key": client.session.session_key,
        "a CSRF token": guesser.cookies["csrftoken"].value,
        "a confirmation link": verification_token(person),
    }
    shown = [
        f"{name} on {path}"
        for path, html in pages.items()
        for name, secret in secrets.items()
        if secret in html
    ]
    assert shown == []


def test_the_counts_show_only_to_staff_who_may_view_messages(client):
    staff = User.objects.create_user(email="helper@example.org", password=GOOD_PASSWORD)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)

    assert 'id="delivery-counts"' not in client.get("/admin/").content.decode()

    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert 'id="delivery-counts"' in client.get("/admin/").content.decode()


def test_a_persons_page_shows_their_messages_only_to_staff_who_may_view_them(client):
    person = make_person("ann@example.org")
    staff = User.objects.create_user(email="helper@example.org", password=GOOD_PASSWORD)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="change_user"))
    client.force_login(staff)
    page = f"/admin/users/user/{person.pk}/change/"

    assert "sender__id__exact" not in client.get(page).content.decode()

    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert "sender__id__exact" in client.get(page).content.decode()


def test_a_persons_page_shows_their_emails_only_to_staff_who_may_view_them(client):
    person = make_person("ann@example.org")
    account_email_queue(user=person, kind=AccountEmailKind.SIGN_UP_ATTEMPT, language="en")
    staff = User.objects.create_user(email="helper@example.org", password=GOOD_PASSWORD)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="change_user"))
    client.force_login(staff)
    page = f"/admin/users/user/{person.pk}/change/"

    hidden = client.get(page).content.decode()
    assert "field-emails_sent" not in hidden
    assert "user__id__exact" not in hidden

    staff.user_permissions.add(Permission.objects.get(codename="view_email"))
    client.force_login(User.objects.get(pk=staff.pk))
    shown = client.get(page).content.decode()
    assert "field-emails_sent" in shown
    assert "user__id__exact" in shown
