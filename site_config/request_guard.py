"""Refuses, as a bad request, a URL with a NUL character in its path or query string.

No link the site makes carries one, and PostgreSQL refuses NUL in text: an admin list
filtered by `?status__exact=%00` reached the database and answered 500. Forms check
their own fields (Django's ProhibitNullCharactersValidator); query strings have no form.
"""

from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponseBase


class NulCharacterGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            raise BadRequest("A NUL character in the URL.")
        return self.get_response(request)
