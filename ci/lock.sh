#!/usr/bin/env bash
# Regenerate requirements.lock: exact versions + sha256 of every file PyPI offers for them, for Linux x86_64,
# CPython 3.11 (the environment the README installs and CI tests). Needs internet access to PyPI.
#   bash ci/lock.sh                          # after editing pyproject.toml: keeps every pin it can
#   bash ci/lock.sh --upgrade                # move every package to its newest allowed version
#   bash ci/lock.sh --upgrade-package timm   # move one package
# Then run the tests (tests/test_lock.py checks envs/memgen.yaml against the lock) and commit both files.
# Hashes are PyPI's: pip checks them against whatever copy it downloads, from PyPI or from a mirror of it.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
tool=${TMPDIR:-/tmp}/memgen-uv-$UV_VERSION
[ -x "$tool/bin/uv" ] || { python3 -m venv "$tool" && "$tool/bin/pip" install -q "uv==$UV_VERSION"; }
# --index-url: PyPI itself, never a machine's local index or mirror, so the hashes are the public ones
"$tool/bin/uv" pip compile pyproject.toml --extra test \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --generate-hashes --index-url https://pypi.org/simple \
  --custom-compile-command "bash ci/lock.sh" \
  -o requirements.lock "$@"
