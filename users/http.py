from common.form_views import HtmxHttpRequest
from users.models import User


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that got past the sign-in check: its user is an account (django-stubs'
    way to say so to the type checker)."""

    user: User
