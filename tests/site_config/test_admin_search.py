"""Every admin list's search, with a term of any length: an answer, never a 500."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from site_config.admin import SEARCH_TERM_MAX_LENGTH

SEARCHED = [
    model
    for model in apps.get_models()
    if admin.site.is_registered(model) and admin.site.get_model_admin(model).search_fields
]


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff@example.org", "x"))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", SEARCHED, ids=[model._meta.label for model in SEARCHED])
def test_an_over_long_search_term_is_refused_with_a_message(staff_client, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    # Past SQLite's longest LIKE pattern, and many words at that.
    response = staff_client.get(url, {"q": "ab " * 20_000})

    assert response.status_code == 200
    assert f"Search for at most {SEARCH_TERM_MAX_LENGTH} characters." in response.text


@pytest.mark.django_db
@pytest.mark.parametrize("model", SEARCHED, ids=[model._meta.label for model in SEARCHED])
def test_a_search_term_within_the_bound_searches(staff_client, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    response = staff_client.get(url, {"q": "x" * SEARCH_TERM_MAX_LENGTH})

    assert response.status_code == 200
    assert "Search for at most" not in response.text


def test_every_searched_list_is_covered():
    assert {model._meta.label for model in SEARCHED} >= {"contact.Message", "users.User"}
