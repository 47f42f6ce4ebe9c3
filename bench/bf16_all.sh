#!/usr/bin/env bash
# bf16_all.sh — bench/forward_bench with --compute fp32 and --compute bf16 on the three shapes,
# 1 thread, then a markdown table (tokens/s fp32 vs bf16, speedup, c_fc GEMM GFLOP/s of gemm_bf16
# vs OpenBLAS sgemm, PyTorch tokens/s and the bf16 / PyTorch ratio) and the log on stdout.
# Default sizes as bench/forward_all.sh: gpt2-small 4x512, gpt-neo-125m 2x512, gpt2-medium 1x512.
# usage: bench/bf16_all.sh [BUILD_DIR] [LOG] > table.md   (LOG given and existing: only re-tabulate)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
log=${2:-${TMPDIR:-/tmp}/bf16_all.log}
shapes=${SHAPES:-gpt2-small:4x512:3 gpt-neo-125m:2x512:3 gpt2-medium:1x512:3}
if [ ! -s "$log" ]; then
  for spec in $shapes; do
    IFS=: read -r s t r <<< "$spec"
    for compute in fp32 bf16; do
      echo "=== forward_bench --shape $s --tokens $t --repeats $r --compute $compute; load $(cut -d' ' -f1-3 /proc/loadavg); busiest: $(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{printf "%s %s%%; ", $2, $1}')"
      "$build/bench/forward_bench" --shape "$s" --tokens "$t" --repeats "$r" --compute "$compute" 2>&1
    done
  done > "$log"
fi
/usr/bin/python3 - "$log" <<'PY'
import re, sys
txt = open(sys.argv[1]).read()
runs = {}
for block in txt.split("=== ")[1:]:
    g = lambda pat: (re.search(pat, block) or [None, "?"])[1]
    key = (g(r"--shape (\S+)"), g(r"--tokens (\S+)"))
    runs.setdefault(key, {})[g(r"--compute (\w+)")] = {
        "load": g(r"; load ([0-9.]+)"), "tps": g(r"neurolens forward: (\d+) tokens/s"),
        "bound": g(r"GEMM-bound limit \(gemm_f32\): (\d+) tokens/s"), "x_bound": g(r"bf16 forward: ([0-9.]+)x"),
        "gemm_bf16": g(r"gemm_bf16 ([0-9.]+), OpenBLAS"), "sgemm": g(r"OpenBLAS sgemm ([0-9.]+) ->"),
        "torch": g(r"PyTorch \(same hooks, same threads\): (\d+) tokens/s"),
        "err": g(r"worst max abs error / RMS ([0-9.]+)"), "rms": g(r"worst RMS error / RMS ([0-9.]+)")}
def f(v): return float(v) if v not in ("?", None) else float("nan")
print("| shape | tokens | load avg at start (fp32 / bf16 run) | fp32 tok/s | bf16 tok/s | speedup | bf16 / fp32 GEMM-bound | c_fc GEMM GFLOP/s: gemm_bf16 / OpenBLAS sgemm | PyTorch tok/s (fp32 / bf16 run) | bf16 / PyTorch | bf16 hook_pre error: max / RMS, RMS err / RMS |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (shape, tokens), r in runs.items():
    a, b = r.get("fp32", {}), r.get("bf16", {})
    sp = f(b.get("tps")) / f(a.get("tps"))
    tr = f(b.get("tps")) / f(b.get("torch"))
    ratio = f(b.get("gemm_bf16")) / f(b.get("sgemm"))
    print(f"| {shape} | {tokens} | {a.get('load')} / {b.get('load')} | {a.get('tps')} | {b.get('tps')} | {sp:.2f}x | {b.get('x_bound')}x | {b.get('gemm_bf16')} / {b.get('sgemm')} ({ratio:.2f}x) | {a.get('torch')} / {b.get('torch')} | {tr:.2f}x | {b.get('err')}, {b.get('rms')} |")
print("\n<details><summary>log</summary>\n\n```")
print(txt.strip())
print("```\n</details>")
PY
