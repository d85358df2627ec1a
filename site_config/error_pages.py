"""The page for a request Django could not read (handler400, site_config/urls.py).

Django's own bad_request view carries requires_csrf_token, whose check reads the POST
body first, the very body that could not be read: under real CSRF checks a body in
another charset, or broken multipart, then ended in a 500 instead of this page. This
view renders templates/400.html and reads nothing of the request.
"""

from django.http import HttpRequest, HttpResponseBadRequest
from django.template.loader import render_to_string


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(render_to_string("400.html"))
