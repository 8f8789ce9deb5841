#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, so CI can run `snakemake --profile profiles/slurm`
# against real slurmctld/slurmd/munge (Debian packages, run as root, no systemd, no cgroups).
#
#   bash ci/slurm.sh install   # apt packages (~10 s; more with SLURM_ACCOUNTING=1)
#   bash ci/slurm.sh start     # write config, start daemons, wait for an idle node (~5 s);
#                              # a cluster that already answers is left as it is
#   bash ci/slurm.sh stop      # stop the daemons that `start` started, by PID, and nothing else
#   bash ci/slurm.sh status    # exit 0 when the cluster answers
#
# Env: SLURM_ACCOUNTING=1  also MariaDB + slurmdbd, so `sacct` answers (default 0: no accounting,
#                          the profile's `slurm-status-command: squeue` path is what gets tested)
#      SLURM_FAKE_GPU=0    no GPU (default 1: one fake GPU `gpu:fake:1`, backed by /dev/null)
#      SLURM_CI_STATE=dir  where the PIDs of started daemons are kept (default /run/memgen-slurm-ci)
set -euo pipefail
ACCT=${SLURM_ACCOUNTING:-0}
FAKE_GPU=${SLURM_FAKE_GPU:-1}
STATE=${SLURM_CI_STATE:-/run/memgen-slurm-ci}
PIDS="$STATE/pids" # one line per daemon we started: "<pid> <name>"
H=$(hostname -s)

need_root() {
  [ "$(id -u)" = 0 ] || { echo "ci/slurm.sh: $1 needs root (daemons, /etc/slurm)" >&2; exit 1; }
}

install() {
  need_root install
  command -v apt-get >/dev/null || { echo "ci/slurm.sh: install needs apt-get (Debian/Ubuntu)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  local pkgs="munge slurmctld slurmd slurm-client"
  [ "$ACCT" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
  # no systemd here: the packages' "could not start service" messages are harmless
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs
}

write_config() {
  # the node name must resolve; `slurmd -C` reports the real CPUs/RealMemory, so the
  # node never drains for claiming more than it has
  getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >>/etc/hosts
  local node gres="" grestypes=""
  node=$(slurmd -C | head -1)
  if [ "$FAKE_GPU" = 1 ]; then
    gres=" Gres=gpu:fake:1"
    grestypes="GresTypes=gpu"
    # a gpu GRES without File= makes slurmd report 0 GPUs and the node goes INVAL
    echo "NodeName=$H Name=gpu Type=fake File=/dev/null" >/etc/slurm/gres.conf
  else
    rm -f /etc/slurm/gres.conf
  fi
  local acct="AccountingStorageType=accounting_storage/none"
  [ "$ACCT" = 1 ] && acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu"
  cat >/etc/slurm/slurm.conf <<EOF
# written by memgen ci/slurm.sh
ClusterName=memgenci
SlurmctldHost=$H
AuthType=auth/munge
SlurmUser=slurm
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# cgroups fail in containers: plain process tracking (memory limits are not enforced, time limits are)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
$acct
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, a job with no --mem takes all node memory and jobs run one at a time
DefMemPerCPU=512
$grestypes
ReturnToService=2
MpiDefault=none
# finished jobs stay visible to squeue/scontrol for 5 min: the executor plugin uses squeue for
# status only when MinJobAge >= 3 x its first status-check delay; the SLURM test reads them too
MinJobAge=300
KillWait=5
${node}${gres} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [ "$ACCT" = 1 ]; then
    cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 600 /etc/slurm/slurmdbd.conf
  fi
}

wait_for() { # wait_for <seconds> <cmd...>
  local n=$(($1 * 5))
  shift
  for _ in $(seq "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "ci/slurm.sh: timeout waiting for: $*" >&2
  return 1
}

# record <pidfile> <name>: the daemons fork themselves away, so their PID comes from their pid file
record() {
  local pid
  wait_for 10 test -s "$1"
  pid=$(cat "$1")
  echo "$pid $2" >>"$PIDS"
}

answers() { scontrol ping 2>/dev/null | grep -q UP && sinfo -h >/dev/null 2>&1; }

node_idle() { sinfo -h -N -o %T | grep -Eqx 'idle|mixed|allocated'; }

start() {
  need_root start
  command -v slurmctld >/dev/null || { echo "ci/slurm.sh: SLURM is not installed; run: bash ci/slurm.sh install" >&2; exit 1; }
  if answers; then
    echo "ci/slurm.sh: a cluster already answers; leaving it as it is"
    sinfo -N -o '%N %c %m %G %T'
    return 0
  fi
  mkdir -p "$STATE"
  write_config
  mkdir -p /run/munge /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  chown munge:munge /run/munge
  chown slurm:slurm /var/log/slurm /var/lib/slurm/slurmctld
  if ! munge -n >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
    record /run/munge/munged.pid munged
    wait_for 10 munge -n
  fi
  if [ "$ACCT" = 1 ]; then
    if ! mariadb-admin ping >/dev/null 2>&1; then
      mkdir -p /run/mysqld
      chown mysql:mysql /run/mysqld
      /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
        --pid-file=/run/mysqld/mysqld.pid >/var/log/slurm/mariadb.log 2>&1 &
      echo "$! mariadbd" >>"$PIDS"
      wait_for 60 mariadb-admin ping
    fi
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
      CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    rm -f /run/slurmdbd.pid
    slurmdbd
    record /run/slurmdbd.pid slurmdbd
    wait_for 30 sacctmgr -n list cluster
  fi
  rm -f /run/slurmctld.pid /run/slurmd.pid
  slurmctld -c # -c: forget the job state of an earlier run
  record /run/slurmctld.pid slurmctld
  wait_for 30 scontrol ping
  slurmd
  record /run/slurmd.pid slurmd
  # a config mismatch leaves the node INVAL/DRAIN: resume once, then show the logs
  if ! wait_for 30 node_idle; then
    scontrol update nodename="$H" state=resume || true
    wait_for 10 node_idle || {
      tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log
      exit 1
    }
  fi
  if [ "$ACCT" = 1 ]; then # so a profile may say `slurm_account: ci`
    sacctmgr -i add account ci Description=ci Organization=ci >/dev/null || true
    sacctmgr -i add user "$(id -un)" account=ci DefaultAccount=ci >/dev/null || true
  fi
  sinfo -N -o '%N %c %m %G %T'
}

stop() {
  [ -s "$PIDS" ] || { echo "ci/slurm.sh: nothing started by ci/slurm.sh is running"; return 0; }
  local pid name comm
  # reverse start order: slurmd before slurmctld before munged
  tac "$PIDS" | while read -r pid name; do
    # a recycled PID belongs to someone else: kill only a process that still has the daemon's name
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    if [ "$comm" != "$name" ]; then
      echo "ci/slurm.sh: $name ($pid) already gone"
      continue
    fi
    kill "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "ci/slurm.sh: $name ($pid) did not stop" >&2
    else
      echo "ci/slurm.sh: stopped $name ($pid)"
    fi
  done
  rm -f "$PIDS"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
status) answers ;;
*)
  echo "usage: $0 install|start|stop|status" >&2
  exit 2
  ;;
esac
