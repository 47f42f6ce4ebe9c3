#!/usr/bin/env bash
# Starts a private single-node Slurm cluster (munged + slurmctld + slurmd) for tests, entirely
# inside STATE_DIR: slurm.conf, munge key and socket, spool/state directories, logs, pid files.
# Nothing global is touched (no /etc/slurm, no /etc/munge, no /run/munge, no systemd).
#   usage: tests/slurm/start_cluster.sh STATE_DIR       (as root)
#   then:  source STATE_DIR/env.sh; sinfo; sbatch ...; tests/slurm/stop_cluster.sh STATE_DIR
# Requires the Debian 12 packages slurmctld slurmd slurm-client munge (slurm-wlm pulls in the
# first three); tests/slurm/slurm_test.sh installs them when missing.
# On failure the daemons already started are stopped again and the logs are printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${1:?usage: start_cluster.sh STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)
log() { printf '[slurm-cluster] %s\n' "$*"; }

fail() {
  echo "[slurm-cluster] error: $*" >&2
  for f in "$state"/log/*.log; do
    [[ -f $f ]] || continue
    echo "---- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  bash "$here/stop_cluster.sh" "$state" >&2 || true
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s until it succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}

[[ $(id -u) -eq 0 ]] || { echo "[slurm-cluster] error: must run as root" >&2; exit 1; }
for tool in munged mungekey slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null || { echo "[slurm-cluster] error: $tool not found (fix: apt-get install slurm-wlm munge)" >&2; exit 1; }
done
id munge >/dev/null 2>&1 || { echo "[slurm-cluster] error: no user 'munge' (fix: apt-get install munge)" >&2; exit 1; }

host=$(hostname -s)
ncpus=${NEUROLENS_SLURM_CPUS:-$(nproc)}

# ---- Directories. STATE_DIR must be traversable by user munge. munged insists that the key
# directory is private (0700, owner munge) and that the socket directory is traversable by all
# (0755, owner munge), so they are two directories.
chmod 0755 "$state"
mkdir -p "$state"/{munge,munge-socket,log,ctld,spool,run}
chown munge:munge "$state/munge" "$state/munge-socket"
chmod 0700 "$state/munge"
chmod 0755 "$state/munge-socket"
chown munge:munge "$state/log"   # munged writes its log here; slurm daemons run as root
chmod 0755 "$state/log"

# ---- munge: a fresh key from mungekey, owned by munge, mode 0400.
if [[ ! -f $state/munge/munge.key ]]; then
  mungekey --create --keyfile="$state/munge/munge.key"
fi
chown munge:munge "$state/munge/munge.key"
chmod 0400 "$state/munge/munge.key"
socket=$state/munge-socket/munge.socket
runuser -u munge -- munged \
  --socket="$socket" --key-file="$state/munge/munge.key" \
  --pid-file="$state/munge-socket/munged.pid" --seed-file="$state/munge/munged.seed" \
  --log-file="$state/log/munged.log" \
  || fail "munged did not start"
# munged forks and writes its pid file; the slurm daemons (root) reach it through the socket.
wait_for 15 "the munge socket" test -S "$socket"
wait_for 15 "munge to encode/decode" bash -c "munge --socket='$socket' -n | unmunge --socket='$socket'"
log "munged running (socket $socket)"

# ---- Ports: a free pair, different for every cluster so parallel test runs do not clash.
port_in_use() { ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }
ctld_port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if ! port_in_use "$p" && ! port_in_use $((p + 1)); then ctld_port=$p; break; fi
done
[[ -n $ctld_port ]] || fail "no free TCP port pair found"
slurmd_port=$((ctld_port + 1))

# ---- slurm.conf. MinJobAge=16: `sbatch --wait` polls every 2, 8, 8... s (it only polls less
# often than MinJobAge/2), instead of 2, 8, 32 s with the default 300; completed jobs stay visible
# to scontrol for 16 s.
conf=$state/slurm.conf
cat > "$conf" <<EOF
# Private single-node test cluster written by tests/slurm/start_cluster.sh
ClusterName=neurolens-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
MpiDefault=${NEUROLENS_SLURM_MPI:-pmix}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool/slurmd-%n
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd-%n.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$state/plugstack.conf
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=16
NodeName=$host NodeAddr=127.0.0.1 CPUs=$ncpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Default=YES Nodes=ALL MaxTime=INFINITE State=UP
EOF
: > "$state/plugstack.conf"
cat > "$state/env.sh" <<EOF
# source this to talk to the private test cluster
export SLURM_CONF=$conf
export NEUROLENS_SLURM_STATE=$state
EOF
export SLURM_CONF=$conf

# ---- Daemons (as root; they fork and write their pid files).
slurmctld -f "$conf" -i || fail "slurmctld did not start"
wait_for 30 "slurmctld to answer" scontrol ping
slurmd -f "$conf" -N "$host" || fail "slurmd did not start"
node_idle() { [[ $(sinfo -h -n "$host" -o '%t' 2>/dev/null) == idle ]]; }
wait_for 60 "node $host to become idle" node_idle
log "cluster up: node $host ($ncpus CPUs) idle; slurmctld port $ctld_port, slurmd port $slurmd_port"
log "SLURM_CONF=$conf"
