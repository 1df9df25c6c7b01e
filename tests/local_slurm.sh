#!/usr/bin/env bash
# local_slurm.sh - install and start a real single-node SLURM cluster on this
# (Debian 12, root, no systemd) machine, idempotently: the cluster of
# tests/test_slurm.py (adapted from the team's shared start_local_slurm.sh).
#
# Usage:  bash tests/local_slurm.sh [start|stop|status]     (default: start)
#
# Knobs (environment variables):
#   SLURM_WITH_DBD=1     also install+start MariaDB and slurmdbd, so that
#                        `sacct`/`sacctmgr` work (plugin defaults, slurm_account
#                        validation).  Default 0: no accounting; the Snakemake
#                        profile must then set `slurm-status-command: squeue`.
#   SLURM_FAKE_GPUS=N    advertise N fake GPUs (GRES gpu:fake:N backed by
#                        /dev/null-like device nodes) so --gpus / --gres=gpu
#                        jobs schedule and run (CUDA_VISIBLE_DEVICES is set).
#                        Default 0.
#   SLURM_ACCOUNT=ci     account created when SLURM_WITH_DBD=1 (default ci).
#   LOCAL_SLURM_PARTITIONS=debug   partition names, space-separated, all on this node;
#                        the first is the default (default debug).
#   SLURM_SMOKE=1        run `srun true` + `sbatch --wrap` before saying ready
#                        (default 1).
#
# Daemons are started in the background (no systemd needed).  Their PIDs are
# recorded in /run/local_slurm/started.pids; `stop` kills exactly those PIDs
# (never by name).  Requires root.
set -euo pipefail

ACTION="${1:-start}"
WITH_DBD="${SLURM_WITH_DBD:-0}"
FAKE_GPUS="${SLURM_FAKE_GPUS:-0}"
ACCOUNT="${SLURM_ACCOUNT:-ci}"
PARTITION="${LOCAL_SLURM_PARTITIONS:-debug}"
SMOKE="${SLURM_SMOKE:-1}"
CLUSTER=localci
STATE_DIR=/run/local_slurm
PIDS_FILE="$STATE_DIR/started.pids"
H="$(hostname -s)"

T_START=$(date +%s.%N)
log() { printf '[local-slurm %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T_START" | bc)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# --- pid helpers: a zombie (state Z) counts as dead; PID 1 here may not reap.
alive() {  # alive PID COMM
  local pid="$1" comm="$2" st
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)"
  [ "$st" != Z ]
}
pid_from() { [ -r "$1" ] && tr -dc '0-9' < "$1" || true; }
record() { mkdir -p "$STATE_DIR"; echo "$1 $2" >> "$PIDS_FILE"; }   # record NAME PID
wait_pidfile() {  # wait_pidfile FILE COMM -> echoes the pid once that daemon is alive
  local i pid
  for i in $(seq 1 100); do
    pid="$(pid_from "$1")"
    if alive "$pid" "$2"; then echo "$pid"; return 0; fi
    sleep 0.1
  done
  die "$2 did not write a live pid to $1"
}

stop_pid() {  # stop_pid PID COMM
  local pid="$1" comm="$2" i
  alive "$pid" "$comm" || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do alive "$pid" "$comm" || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

do_stop() {
  [ -r "$PIDS_FILE" ] || { log "nothing recorded in $PIDS_FILE"; return 0; }
  # stop in reverse start order
  tac "$PIDS_FILE" | while read -r name pid; do
    if alive "$pid" "$name"; then log "stopping $name (pid $pid)"; stop_pid "$pid" "$name"; fi
  done
  rm -f "$PIDS_FILE"
  # stale pid files break e.g. Debian's slurmctld prerm (it runs scancel if
  # /run/slurmctld.pid exists), so drop those whose daemon is gone
  for f in /run/slurmd.pid:slurmd /run/slurmctld.pid:slurmctld /run/slurmdbd.pid:slurmdbd \
           /run/mysqld/mariadbd.pid:mariadbd /run/munge/munged.pid:munged; do
    alive "$(pid_from "${f%%:*}")" "${f##*:}" || rm -f "${f%%:*}"
  done
  log "stopped"
}

do_status() {
  for f in /run/munge/munged.pid:munged /run/mysqld/mariadbd.pid:mariadbd \
           /run/slurmdbd.pid:slurmdbd /run/slurmctld.pid:slurmctld /run/slurmd.pid:slurmd; do
    local p="${f%%:*}" n="${f##*:}" pid
    pid="$(pid_from "$p")"
    if alive "$pid" "$n"; then echo "$n: running (pid $pid)"; else echo "$n: not running"; fi
  done
  command -v sinfo >/dev/null && sinfo -N -o '%N %T %c %m %G' 2>/dev/null || true
}

case "$ACTION" in
  stop) do_stop; exit 0 ;;
  status) do_status; exit 0 ;;
  start) ;;
  *) die "unknown action $ACTION (start|stop|status)" ;;
esac

# ---------------------------------------------------------------- 1. packages
PKGS="slurmctld slurmd slurm-client munge"
[ "$WITH_DBD" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
  log "packages installed ($(slurmd -V))"
else
  log "packages already installed ($(slurmd -V))"
fi

# ---------------------------------------------------------------- 2. munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  if command -v mungekey >/dev/null; then runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running"
else
  runuser -u munge -- /usr/sbin/munged
  for i in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged did not come up"
  P="$(wait_pidfile /run/munge/munged.pid munged)"; record munged "$P"; log "munged started (pid $P)"
fi

# ---------------------------------------------------------------- 3. config
read -r CPUS MEM < <(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*RealMemory=\([0-9]*\).*/\1 \2/p')
[ -n "$CPUS" ] && [ -n "$MEM" ] || die "could not parse 'slurmd -C'"
for d in /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm; do
  install -d -o slurm -g slurm -m 0755 "$d"
done

GRES_NODE=""; GRES_TYPES=""
if [ "$FAKE_GPUS" -gt 0 ]; then
  GRES_NODE=" Gres=gpu:fake:$FAKE_GPUS"; GRES_TYPES="GresTypes=gpu"
fi
if [ "$WITH_DBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"
else
  ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

NEW_CONF="$(mktemp)"
cat > "$NEW_CONF" <<EOF
# generated by start_local_slurm.sh - single-node, cgroup-free test cluster
ClusterName=$CLUSTER
SlurmctldHost=$H(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCT
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
$GRES_TYPES
ReturnToService=2
# keep finished jobs visible to squeue for 5 min: the Snakemake slurm plugin's
# 'squeue' status mode needs MinJobAge >= 3 * init-seconds-before-status-checks
MinJobAge=300
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$H NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM$GRES_NODE State=UNKNOWN
EOF
DEFAULT=YES
for P in $PARTITION; do
  echo "PartitionName=$P Nodes=ALL Default=$DEFAULT MaxTime=INFINITE State=UP" >> "$NEW_CONF"
  DEFAULT=NO
done
CONF_CHANGED=0
if ! cmp -s "$NEW_CONF" /etc/slurm/slurm.conf; then
  install -m 0644 "$NEW_CONF" /etc/slurm/slurm.conf; CONF_CHANGED=1
fi
rm -f "$NEW_CONF"
if [ "$FAKE_GPUS" -gt 0 ]; then
  # the gpu GRES plugin needs one device file per GPU: fake them with
  # character devices identical to /dev/null (major 1, minor 3)
  mkdir -p "$STATE_DIR"
  for i in $(seq 0 $((FAKE_GPUS - 1))); do
    [ -c "$STATE_DIR/fakegpu$i" ] || mknod "$STATE_DIR/fakegpu$i" c 1 3
  done
  if [ "$FAKE_GPUS" = 1 ]; then F="$STATE_DIR/fakegpu0"; else F="$STATE_DIR/fakegpu[0-$((FAKE_GPUS - 1))]"; fi
  G="NodeName=$H Name=gpu Type=fake File=$F"
  if [ "$(cat /etc/slurm/gres.conf 2>/dev/null)" != "$G" ]; then echo "$G" > /etc/slurm/gres.conf; CONF_CHANGED=1; fi
elif [ -e /etc/slurm/gres.conf ]; then
  rm -f /etc/slurm/gres.conf; CONF_CHANGED=1
fi
log "slurm.conf: node $H CPUs=$CPUS RealMemory=${MEM}M fake_gpus=$FAKE_GPUS dbd=$WITH_DBD (changed=$CONF_CHANGED)"

# ---------------------------------------------------------------- 4. mariadb + slurmdbd (optional)
if [ "$WITH_DBD" = 1 ]; then
  install -d -o mysql -g root -m 0755 /run/mysqld
  if mariadb -e 'select 1' >/dev/null 2>&1; then
    log "mariadb already running"
  else
    setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
      --pid-file=/run/mysqld/mariadbd.pid </dev/null >/var/log/slurm/mariadbd.log 2>&1 &
    MPID=$!
    for i in $(seq 1 100); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
    mariadb -e 'select 1' >/dev/null 2>&1 || die "mariadb did not come up (see /var/log/slurm/mariadbd.log)"
    record mariadbd "$MPID"; log "mariadb started (pid $MPID)"
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
              CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-local-ci';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm-local-ci
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 0600 /etc/slurm/slurmdbd.conf
  if alive "$(pid_from /run/slurmdbd.pid)" slurmdbd; then
    log "slurmdbd already running"
  else
    /usr/sbin/slurmdbd
    for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.2; done
    P="$(wait_pidfile /run/slurmdbd.pid slurmdbd)"; record slurmdbd "$P"; log "slurmdbd started (pid $P)"
  fi
fi

# ---------------------------------------------------------------- 5. slurmctld + slurmd
CTLD_PID="$(pid_from /run/slurmctld.pid)"; SLURMD_PID="$(pid_from /run/slurmd.pid)"
if [ "$CONF_CHANGED" = 1 ]; then
  if alive "$SLURMD_PID" slurmd || alive "$CTLD_PID" slurmctld; then
    log "config changed: restarting slurmd/slurmctld"
  fi
  stop_pid "$SLURMD_PID" slurmd; stop_pid "$CTLD_PID" slurmctld
fi
if alive "$(pid_from /run/slurmctld.pid)" slurmctld; then
  log "slurmctld already running"
else
  # -c: start from a clean state (no stale jobs / drained-node reasons)
  /usr/sbin/slurmctld -c
  for i in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
  P="$(wait_pidfile /run/slurmctld.pid slurmctld)"; record slurmctld "$P"; log "slurmctld started (pid $P)"
fi
if alive "$(pid_from /run/slurmd.pid)" slurmd; then
  log "slurmd already running"
else
  /usr/sbin/slurmd
  P="$(wait_pidfile /run/slurmd.pid slurmd)"; record slurmd "$P"; log "slurmd started (pid $P)"
fi

# ---------------------------------------------------------------- 6. wait for the node
state=""
for i in $(seq 1 120); do
  state="$(sinfo -h -n "$H" -o %T 2>/dev/null | head -1 || true)"
  case "$state" in
    idle|mixed|allocated|completing) break ;;
    drain*|down*|inval*|fail*) scontrol update nodename="$H" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case "$state" in idle|mixed|allocated|completing) ;; *)
  tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  die "node $H not ready (state '$state')" ;;
esac

if [ "$WITH_DBD" = 1 ]; then
  for i in $(seq 1 50); do sacctmgr -n show cluster format=cluster 2>/dev/null | grep -q "$CLUSTER" && break; sleep 0.2; done
  sacctmgr -n show assoc format=account,user 2>/dev/null | grep -Eq "^ *$ACCOUNT +root *$" || {
    sacctmgr -i add account "$ACCOUNT" Description=ci Organization=ci >/dev/null 2>&1 || true
    sacctmgr -i add user root account="$ACCOUNT" >/dev/null 2>&1 || true
  }
  sacct -n -X >/dev/null || die "sacct does not work"
fi

if [ "$SMOKE" = 1 ]; then
  timeout 60 srun -t 1 true || die "srun smoke test failed"
  JID="$(sbatch --parsable -t 1 -o /dev/null --wrap true)"
  for i in $(seq 1 120); do
    s="$(squeue -h -j "$JID" --states=all -o %T 2>/dev/null || true)"
    [ "$s" = COMPLETED ] && break
    case "$s" in FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) die "sbatch smoke job $JID: $s" ;; esac
    sleep 0.5
  done
  [ "$s" = COMPLETED ] || die "sbatch smoke job $JID did not complete (state '$s')"
fi

log "LOCAL SLURM READY: cluster=$CLUSTER node=$H partition=$PARTITION cpus=$CPUS mem=${MEM}M fake_gpus=$FAKE_GPUS slurmdbd=$WITH_DBD"
sinfo -N -o '%N %P %T %c %m %G'
