"""A container's health check: `python -m site_config.probe URL` exits 0 when URL answers
200 within 3 s, 1 otherwise (the Dockerfile's HEALTHCHECK, compose.yaml's checks).

The request names a host the site accepts (the first of ALLOWED_HOSTS), so the check
passes Django's host validation wherever the site is deployed, not only on localhost.
"""

import os
import sys
import urllib.error
import urllib.request


def probe_host() -> str:
    first = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip()
    # ".example.org" allows any subdomain, "*" any host: either way this one is allowed.
    return first.lstrip(".").replace("*", "localhost") or "localhost"


def main(argv: list[str]) -> int:
    [url] = argv
    request = urllib.request.Request(url, headers={"Host": probe_host()})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
