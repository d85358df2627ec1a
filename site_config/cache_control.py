"""A page answered to a signed-in person is theirs alone: `Cache-Control: private` keeps
shared caches (a proxy, a CDN) from handing it to the next visitor."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class PrivateWhenSignedInMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Only an answer that read the session can depend on who is signed in (Django then
        # adds Vary: Cookie), so one that did not costs no session lookup here.
        # patch_cache_control keeps what a view set (no-store, no-cache) and drops public.
        if request.session.accessed and request.user.is_authenticated:
            patch_cache_control(response, private=True)
        return response
