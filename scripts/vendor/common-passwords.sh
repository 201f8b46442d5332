#!/usr/bin/env bash
# Refreshes crates/plinth-auth/data/common-passwords.txt from a pinned Django release on
# PyPI (django/contrib/auth/common-passwords.txt.gz, BSD-3-Clause; list by Royce Williams),
# with Django's license beside it. Never edit the list by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
DJANGO_VERSION=5.2.8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps -q "Django==$DJANGO_VERSION" -d "$tmp"
python3 - "$tmp" <<'PY'
import glob, gzip, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + "/Django-*.whl")[0] if glob.glob(sys.argv[1] + "/Django-*.whl") else glob.glob(sys.argv[1] + "/django-*.whl")[0])
text = gzip.decompress(wheel.read("django/contrib/auth/common-passwords.txt.gz")).decode()
open("crates/plinth-auth/data/common-passwords.txt", "w").write(text if text.endswith("\n") else text + "\n")
license = next(n for n in wheel.namelist() if n.endswith("LICENSE") and "dist-info" in n)
open("crates/plinth-auth/data/common-passwords.LICENSE", "w").write(wheel.read(license).decode())
PY
echo "vendored $(wc -l < crates/plinth-auth/data/common-passwords.txt) common passwords from Django $DJANGO_VERSION"
