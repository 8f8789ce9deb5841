#!/usr/bin/env bash
# memgen's full check (the README's test command):  bash ci/test.sh
#   1. install: .venv (created if missing), the locked environment (requirements.lock, hash-checked),
#      then memgen itself without dependencies: the README's install command
#   2. a local SLURM cluster (ci/slurm.sh; root + apt-get), stopped again on exit; Chromium for the
#      report tests (apt-get)
#   3. lint: ruff, snakefmt --check, snakemake --lint
#   4. pytest, all tests but the SLURM ones; then the SLURM tests
# Every step after the install runs even when an earlier one failed; the summary at the end lists
# each step, and the exit status is non-zero when any failed.
# The cluster is up before anything calls Snakemake: with slurm-client installed and no slurmctld
# answering, every Snakemake start waits ~9 s for the SLURM plugin's `scontrol show config`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH"

summary=()
failed=0
t_start=$SECONDS

# step <name> <command...>: run, time and record one step; never stops the script
step() {
  local name=$1 rc=0 t0=$SECONDS
  shift
  echo
  echo "=== $name: $*"
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then
    summary+=("ok      $name ($((SECONDS - t0)) s)")
  else
    summary+=("FAILED  $name (exit $rc, $((SECONDS - t0)) s)")
    failed=1
  fi
}

print_summary() {
  echo
  echo "=== summary ($((SECONDS - t_start)) s)"
  printf '  %s\n' "${summary[@]}"
}

# pytest for the SLURM tests: exit 5 (no test collected) is fine only when there is no SLURM test
pytest_slurm() {
  local rc=0
  "$PY" -m pytest -ra -s -m slurm "$@" || rc=$?
  if [ "$rc" = 5 ]; then
    echo "no SLURM tests collected (pytest exit 5): nothing to run"
    return 0
  fi
  return "$rc"
}

# --- 1. install (a failure here ends the run: nothing after it can say anything)
[ -x "$PY" ] || python3 -m venv "$VENV"
if ! { "$PY" -m pip install -q -r requirements.lock &&
  "$PY" -m pip install -q --no-deps --no-build-isolation -e .; }; then
  echo "ci/test.sh: installing requirements.lock, then memgen (pip install --no-deps -e .), failed" >&2
  exit 1
fi
summary+=("ok      install")

# --- 2. SLURM cluster
cluster_up() {
  if ! command -v slurmctld >/dev/null || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    bash ci/slurm.sh install
  fi
  bash ci/slurm.sh start
}
if bash ci/slurm.sh status; then
  # someone else's cluster: use it, leave it running
  trap print_summary EXIT
  summary+=("ok      SLURM cluster (already running)")
else
  trap 'bash ci/slurm.sh stop || true; print_summary' EXIT
  step "SLURM cluster" cluster_up
fi

# --- 2b. a browser for the report tests (tests/test_report.py): Debian's chromium, run headless
browser_up() {
  command -v chromium >/dev/null && return 0
  [ "$(id -u)" = 0 ] || { echo "not root: cannot apt-get install chromium" >&2; return 1; }
  apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
}
step "chromium" browser_up

# --- 3. lint
step "ruff" "$PY" -m ruff check memgen tests benchmarks workflow_scripts
if [ -f Snakefile ]; then
  step "snakefmt" snakefmt --check Snakefile rules
  step "snakemake --lint" "$PY" -m snakemake --lint
fi

# --- 4. tests
step "pytest (not slurm)" "$PY" -m pytest -ra -m "not slurm"
step "pytest (slurm)" pytest_slurm

exit "$failed"
