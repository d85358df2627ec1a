import pytest
from django.test import Client, RequestFactory
from django.utils import translation
from django.views import defaults


@pytest.mark.parametrize(
    ("accept_language", "heading"),
    [("en", "<h1>Page not found</h1>"), ("ru", "<h1>Страница не найдена</h1>")],
)
def test_a_missing_page_is_ours_in_the_persons_language(client, accept_language, heading):
    response = client.get("/no-such-page/", headers={"Accept-Language": accept_language})

    assert response.status_code == 404
    html = response.content.decode()
    assert heading in html
    # The site's own layout, with its way back home.
    assert 'class="site-header"' in html
    assert '<a href="/">' in html


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "<h1>Something went wrong</h1>"), ("ru", "<h1>Что-то пошло не так</h1>")],
)
def test_a_server_error_page_needs_nothing_from_the_failed_request(language, heading):
    # Django renders it with an empty context, as after any failure.
    with translation.override(language):
        response = defaults.server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    assert heading in response.content.decode()


@pytest.mark.parametrize(
    ("accept_language", "heading"),
    [("en", "<h1>Bad request</h1>"), ("ru", "<h1>Неверный запрос</h1>")],
)
def test_an_unreadable_request_gets_our_page_in_the_persons_language(
    client, accept_language, heading
):
    response = client.generic(
        "POST",
        "/accounts/login/",
        "username=\xe9".encode("latin-1"),
        content_type="application/x-www-form-urlencoded; charset=latin-1",
        headers={"Accept-Language": accept_language},
    )

    assert response.status_code == 400
    assert heading in response.content.decode()
    assert "Content-Security-Policy" in response.headers


def test_a_form_without_its_token_gets_our_page_not_djangos():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "a@example.org", "password": "x"})

    assert response.status_code == 403
    assert "<h1>The form has expired</h1>" in response.content.decode()
    assert "Content-Security-Policy" in response.headers
