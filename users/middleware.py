"""Who the signed-in person is, on each request (MIDDLEWARE, in place of Django's
AuthenticationMiddleware)."""

from django.contrib import auth
from django.contrib.auth import middleware
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from users.backends import user_read_with_session


class AuthenticationMiddleware(middleware.AuthenticationMiddleware):
    """Django's, except that `request.user` is worked out with the person read together
    with the session (users.sessions) at hand, which saves reading them again.

    Django's auth.get_user still decides everything: which backend and key the session
    names, the session hash that signs a person out everywhere after a password change,
    inactive accounts. Only the backend's read of the row is spared.
    """

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: signed_in_user(request))


def signed_in_user(request: HttpRequest) -> object:
    # Cached where Django's own middleware caches it.
    if not hasattr(request, "_cached_user"):
        read = getattr(request.session, "user_read_with_it", None)
        with user_read_with_session(read):
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]
