"""Requests the site refuses, as bad requests, before any view reads them: a URL with a
NUL character, a body longer than its fields may be or a form body in a charset other
than UTF-8, and any file part (the site takes no files)."""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.utils.log import log_response

from site_config import error_pages

# The body Django reads in UTF-8 only, whatever charset it names.
FORM_BODY = "application/x-www-form-urlencoded"


class NulCharacterGuardMiddleware:
    """No link the site makes carries a NUL, and PostgreSQL refuses NUL in text: an admin
    list filtered by `?status__exact=%00` would reach the database and answer 500. Forms
    check their own fields (Django's ProhibitNullCharactersValidator); query strings
    have no form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            raise BadRequest("A NUL character in the URL.")
        return self.get_response(request)


class BodySizeGuardMiddleware:
    """Refuses a body whose Content-Length is over DATA_UPLOAD_MAX_MEMORY_SIZE before a
    byte of it is read. Django checks that length only for a urlencoded body; with no
    files to take, a multipart one holds nothing larger either.

    Refuses too a urlencoded body that names a charset other than UTF-8, the only one
    Django reads it in (one that names none it knows of included). Django's own refusal
    is a BadRequest raised as the body is read, which with DEBUG on its debug page
    answers by reading the body again: a 500. This answers the site's 400 page at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            raise BadRequest("A Content-Length that is not a number.") from None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        charset = (request.content_params or {}).get("charset", "utf-8")
        if request.content_type == FORM_BODY and charset.lower() != "utf-8":
            return bad_request(request, f"A form body in {charset!r}, not UTF-8.")
        return self.get_response(request)


def bad_request(request: HttpRequest, reason: str) -> HttpResponse:
    """The site's 400 page (handler400), answered and logged as Django does for a body
    it cannot parse, without raising: nothing reads the body on the way out."""
    response = error_pages.bad_request(request, BadRequest(reason))
    log_response("Bad request (%s): %s", reason, request.path, response=response, request=request)
    return response


class NoFilesUploadHandler(FileUploadHandler):
    """The one upload handler (FILE_UPLOAD_HANDLERS): a file part ends the request at its
    headers, before a byte is stored. Django's StopUpload and SkipFile would drop the file
    and let the view go on; a MultiPartParserError is Django's own 400 for a body it
    cannot take."""

    def new_file(self, *args: object, **kwargs: object) -> None:
        raise MultiPartParserError("A file part: this site takes no files.")
