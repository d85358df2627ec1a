"""Requests no browser sends, for every endpoint that takes a POST: what the request tests
post through Django's test client (tests/site_config/test_bad_requests.py), and the
probes post over real HTTP to a running site (tests/system/probes.py)."""

FORM = "application/x-www-form-urlencoded"
BODIES = {
    "utf-16": (f"{FORM}; charset=utf-16", "subject=hi&body=x".encode("utf-16")),
    "latin-1": (f"{FORM}; charset=latin-1", "subject=h\xe9&body=x".encode("latin-1")),
    "ascii with 8-bit bytes": (f"{FORM}; charset=ascii", b"subject=h\xe9&body=x"),
    "an unknown charset": (f"{FORM}; charset=no-such-charset", b"subject=hi&body=x"),
    "invalid UTF-8": (FORM, b"subject=\xff\xfe&body=%ff%fe"),
    "multipart cut short": (
        "multipart/form-data; boundary=zzz",
        b'--zzz\r\nContent-Disposition: form-data; name="subject"\r\n\r\nhi',
    ),
    "multipart without a boundary": ("multipart/form-data", b"--\r\n\r\n"),
    "multipart in utf-16": (
        "multipart/form-data; boundary=zzz; charset=utf-16",
        b'--zzz\r\nContent-Disposition: form-data; name="subject"\r\n\r\nh\xff\r\n--zzz--\r\n',
    ),
    "5,000 fields": (FORM, "&".join(f"f{n}=1" for n in range(5000)).encode()),
    "a 3 MB body": (FORM, b"body=" + b"x" * 3_000_000),
}
ENDPOINTS = [
    "/accounts/register/",
    "/accounts/register/validate/",
    "/accounts/login/",
    "/accounts/login/validate/",
    "/accounts/logout/",
    "/accounts/confirm/resend/",
    "/accounts/confirm/not-a-token/",
    "/accounts/password/reset/",
    "/accounts/password/reset/validate/",
    "/accounts/password/reset/new/validate/",
    "/accounts/password/reset/MQ/set-password/",
    "/accounts/password/",
    "/accounts/password/validate/",
    "/accounts/delete/",
    "/accounts/delete/validate/",
    "/messages/new/",
    "/messages/new/validate/",
    "/i18n/setlang/",
    "/admin/login/",
    "/admin/logout/",
    "/admin/contact/message/",
    "/admin/users/user/add/",
]
