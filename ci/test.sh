#!/usr/bin/env bash
# memgen's full check (the README's test command):  bash ci/test.sh
#   1. install: .venv (created if missing), the locked environment (requirements.lock, hash-checked),
#      then memgen itself without dependencies: the README's install command
#   2. meanwhile, in the background: a local SLURM cluster (ci/slurm.sh; root + apt-get), stopped again
#      on exit, then Chromium for the report tests (apt-get)
#   3. the SLURM tests start, in the background (CI_SLURM_PARALLEL=0: last, after the others instead)
#   4. lint: ruff, snakefmt --check, snakemake --lint
#   5. the fast tier, unit tests without Snakemake (the developer's command, about 1-2 min):
#        .venv/bin/python -m pytest -m "not workflow and not slurm and not cuda and not slow"
#   6. the workflow and slow tests (cuda ones skip without a GPU):
#        -m "(workflow or slow or cuda) and not slurm"
#      5 and 6 at nice 19, so the SLURM tests' jobs (nice 0) keep the timing those tests depend on
#   7. the SLURM tests' result and output
# Each test runs once. Every step after the install runs even when an earlier one failed; the summary at
# the end lists each step, and the exit status is non-zero when any failed.
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
  local name=$1 rc=0 t0=$SECONDS line
  shift
  echo
  echo "=== $name: $*"
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then
    line="ok      $name ($((SECONDS - t0)) s)"
  else
    line="FAILED  $name (exit $rc, $((SECONDS - t0)) s)"
    failed=1
  fi
  summary+=("$line")
  # a step in a background subshell cannot add to this shell's summary: it prints its line for read_bg
  if [ -n "${IN_BACKGROUND:-}" ]; then echo "@@summary $line"; fi
}

# bg <log> <command...>: start a command in the background, in its own process group (killed whole on
# an early exit), its output in <log>; sets bg_pid
bg_pids=()
bg() {
  local log=$1
  shift
  set -m
  IN_BACKGROUND=1 "$@" </dev/null >"$log" 2>&1 &
  bg_pid=$!
  set +m
  bg_pids+=("$bg_pid")
}

# read_bg <log>: print a finished background step's output and take its summary lines
read_bg() {
  local line
  grep -v '^@@summary ' "$1" || true
  while IFS= read -r line; do
    summary+=("$line")
    case $line in FAILED*) failed=1 ;; esac
  done < <(sed -n 's/^@@summary //p' "$1")
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

# --- 2. SLURM cluster, then Chromium, in the background while pip installs (apt and pip do not wait on
# each other; the two apt-get steps share dpkg's lock, so they run one after the other)
cluster_up() {
  if ! command -v slurmctld >/dev/null || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    bash ci/slurm.sh install
  fi
  bash ci/slurm.sh start
}
# a browser for the report tests (tests/test_report.py): Debian's chromium, run headless; and Debian's
# Fashion-MNIST for tests/test_fashion.py (under CI=true it fails rather than skips without it)
browser_up() {
  command -v chromium >/dev/null && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && return 0
  [ "$(id -u)" = 0 ] || { echo "not root: cannot apt-get install chromium dataset-fashion-mnist" >&2; return 1; }
  apt-get install -y -q chromium dataset-fashion-mnist >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium dataset-fashion-mnist >/dev/null; }
}
cleanup() {
  local pid
  for pid in "${bg_pids[@]}"; do kill -- -"$pid" 2>/dev/null || true; done # ours: their process groups
  # apt-get is left to finish (killed, it can leave dpkg half-configured), then the cluster it started stops
  if [ -n "${setup_pid:-}" ]; then wait "$setup_pid" 2>/dev/null || true; fi
  if [ -n "${own_cluster:-}" ]; then bash ci/slurm.sh stop || true; fi
  print_summary
}
trap cleanup EXIT
setup() {
  if [ -n "${own_cluster:-}" ]; then step "SLURM cluster" cluster_up; fi
  step "chromium" browser_up
}
if bash ci/slurm.sh status; then
  # someone else's cluster: use it, leave it running
  summary+=("ok      SLURM cluster (already running)")
else
  own_cluster=1
fi
setup_log=$(mktemp -t memgen-ci-setup.XXXXXX)
bg "$setup_log" setup
setup_pid=$bg_pid
bg_pids=() # not killed on an early exit: waited for (cleanup)

# --- 1. install (a failure here ends the run: nothing after it can say anything)
[ -x "$PY" ] || python3 -m venv "$VENV"
if ! { "$PY" -m pip install -q -r requirements.lock &&
  "$PY" -m pip install -q --no-deps --no-build-isolation -e .; }; then
  echo "ci/test.sh: installing requirements.lock, then memgen (pip install --no-deps -e .), failed" >&2
  exit 1
fi
summary+=("ok      install")
wait "$setup_pid" || true
setup_pid=
read_bg "$setup_log"

# --- 3. the SLURM tests, in the background from here on (CI_SLURM_PARALLEL=0: after the others): they
# mostly wait on SLURM (status polls, a ~2-minute requeue delay, 1-minute time limits); their jobs run at
# nice 0 and the other tests at nice 19 with one thread a job (tests/workflow_helpers.py: RUN_OPTIONS)
slurm_log=$(mktemp -t memgen-ci-slurm.XXXXXX)
if [ "${CI_SLURM_PARALLEL:-1}" = 1 ]; then
  # no cache plugin: two pytest sessions at once must not write .pytest_cache together
  bg "$slurm_log" step "pytest (slurm, in the background)" pytest_slurm -p no:cacheprovider
  slurm_pid=$bg_pid
  echo
  echo "=== pytest (slurm): started in the background; its output follows the other tests"
fi

# --- 4. lint
step "ruff" "$PY" -m ruff check memgen tests benchmarks workflow_scripts
if [ -f Snakefile ]; then
  step "snakefmt" snakefmt --check Snakefile rules
  step "snakemake --lint" "$PY" -m snakemake --lint
fi

# --- 5., 6. the fast tier first, then the workflow and slow tests; 7. the SLURM tests' result
# at nice 19: the SLURM jobs beside them (nice 0) get the CPU first, and their timing is what those tests check
step "pytest fast tier (unit tests, no Snakemake)" \
  nice -n 19 "$PY" -m pytest -ra -m "not workflow and not slurm and not cuda and not slow"
step "pytest workflow and slow tests (not slurm)" \
  nice -n 19 "$PY" -m pytest -ra -m "(workflow or slow or cuda) and not slurm"
if [ -n "${slurm_pid:-}" ]; then
  wait "$slurm_pid" || true
  bg_pids=()
  read_bg "$slurm_log"
else
  step "pytest (slurm)" pytest_slurm
fi

exit "$failed"
