#!/usr/bin/env bash
# Stops the private test cluster started by tests/slurm/start_cluster.sh STATE_DIR: cancels its
# jobs, then ends slurmd, slurmctld and munged by the pids in their pid files (never by name),
# SIGTERM first, SIGKILL after a bounded wait. Safe to call twice or on a half-started cluster.
#   usage: tests/slurm/stop_cluster.sh STATE_DIR
set -uo pipefail
state=${1:?usage: stop_cluster.sh STATE_DIR}
[[ -d $state ]] || exit 0
state=$(cd "$state" && pwd)

if [[ -f $state/slurm.conf && -f $state/run/slurmctld.pid ]]; then
  SLURM_CONF=$state/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
fi

# stop PIDFILE NAME: TERM, wait up to 15 s, then KILL; only if the pid still runs NAME.
stop() {
  local pidfile=$1 name=$2 pid
  [[ -f $pidfile ]] || return 0
  pid=$(tr -dc '0-9' < "$pidfile")
  rm -f "$pidfile"
  [[ -n $pid ]] || return 0
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { echo "[slurm-cluster] stopped $name ($pid)"; return 0; }
    sleep 0.5
  done
  echo "[slurm-cluster] $name ($pid) ignored SIGTERM for 15 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
}

for f in "$state"/run/slurmd-*.pid; do
  [[ -e $f ]] && stop "$f" slurmd
done
stop "$state/run/slurmctld.pid" slurmctld
stop "$state/munge-socket/munged.pid" munged
# slurmstepd processes of this cluster end with slurmd's jobs; report any left behind.
left=$(pgrep -a slurmstepd 2>/dev/null | grep -F "$state" || true)
[[ -z $left ]] || echo "[slurm-cluster] warning: left-over slurmstepd: $left" >&2
exit 0
