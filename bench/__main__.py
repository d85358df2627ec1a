"""`python -m bench [--only ITEMS]` runs the benchmarks (bench/run.py).

`python -m bench inside COMMAND ...` is how the runner reaches into a Django process of
the topology under test (bench/inside.py): the runner starts it with the topology's
environment, and it prints one JSON document.
"""

import os
import sys

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
    django.setup()
    # Imported only now: both import the site's models (the topology and the stand-ins
    # the runner reuses do too), which needs Django set up.
    if sys.argv[1:2] == ["inside"]:
        from bench.inside import main as inside

        return inside(sys.argv[2:])
    from bench.run import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
