#!/usr/bin/python3
"""corpus_scale_tool.py — helper of bench/corpus_scale.sh (issue 15, corpus scale). Subcommands:

  corpus OUT.jsonl TEXT_BYTES SEED NLP_CORPUS_DIR
      Writes a JSON Lines corpus ({"text": ...} per line) of about TEXT_BYTES UTF-8 text bytes:
      documents made of sentences of the npm package nlp-corpus (builds/doc-*.json, 100,000
      real English sentences) drawn WITH REPLACEMENT by random.Random(SEED); each document has
      a target length drawn uniformly from 2,000-8,000 text bytes (~450-1,750 GPT-2 tokens), so
      chunked studies (sampling, logistic: 256 tokens) keep most of the text. Written to a
      temporary name and renamed. Prints "documents text_bytes file_bytes".
  run LOG STATUS TIMEOUT_S MEM_FLOOR_MB -- CMD...
      Runs CMD (mpirun ...) in a new session with stdout+stderr to LOG; polls every 0.2 s and
      kills the whole session (by its process group id, then every descendant pid) when it runs
      past TIMEOUT_S or when the machine's MemAvailable drops below MEM_FLOOR_MB (so a study
      whose memory grows with the corpus never triggers the OOM killer on a shared machine).
      Writes "rc wall_s reason" to STATUS (reason: ok | failed | timeout | memory).
  row RUN_DIR SIZE_M FORMAT STUDY RANKS CORPUS_TOKENS exact|est
      One CSV row from a finished run directory (status, rss.* files of /usr/bin/time, run.log,
      out.h5).
  table CSV MD HEADER_FILE
      The Markdown table and the issue-15 checks, to MD and stdout.
"""
import csv
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

FIELDS = ["size_m", "format", "study", "ranks", "corpus_tokens", "tokens_kind", "status", "rss_mb_max", "rss_mb_ranks",
          "load_s", "plan_s", "forward_s", "reduce_s", "write_s", "wall_s", "inproc_wall_s", "tokens",
          "forward_tps", "e2e_tps", "e2e_over_forward", "bytes_read_mb_max", "note"]


def make_corpus(out, text_bytes, seed, src):
    sentences = []
    for f in sorted(glob.glob(os.path.join(src, "builds", "doc-*.json"))):
        with open(f, encoding="utf-8") as fh:
            sentences += [s.strip() for s in json.load(fh) if isinstance(s, str) and s.strip()]
    if not sentences:
        sys.exit(f"corpus_scale_tool: no sentences under {src}/builds/doc-*.json")
    encoded = [s.encode("utf-8") for s in sentences]
    rng = random.Random(seed)
    tmp = out + ".partial"
    total = docs = file_bytes = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        while total < text_bytes:
            target = min(rng.randint(2000, 8000), max(text_bytes - total, 200))
            parts, n = [], 0
            while n < target:
                i = rng.randrange(len(sentences))
                parts.append(sentences[i])
                n += len(encoded[i]) + 1
            text = " ".join(parts)
            line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
            fh.write(line)
            total += len(text.encode("utf-8"))
            file_bytes += len(line.encode("utf-8"))
            docs += 1
    os.replace(tmp, out)
    print(docs, total, file_bytes)


def descendants(pid):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def mem_available_mb():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def run(log, status, timeout_s, floor_mb, cmd):
    t0 = time.perf_counter()
    reason = None
    with open(log, "w") as fh:
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        while p.poll() is None:
            if time.perf_counter() - t0 > timeout_s:
                reason = "timeout"
            elif mem_available_mb() < floor_mb:
                reason = "memory"
            if reason:
                victims = descendants(p.pid)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                for v in victims:
                    try:
                        os.kill(v, signal.SIGKILL)
                    except OSError:
                        pass
                p.wait()
                break
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    rc = p.returncode
    if reason is None:
        reason = "ok" if rc == 0 else "failed"
    with open(status, "w") as fh:
        fh.write(f"{rc} {wall:.3f} {reason}\n")
    return 0


def fmt(x, digits=2):
    return "" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def row(run_dir, size_m, form, study, ranks, corpus_tokens, tokens_kind):
    r = dict.fromkeys(FIELDS, "")
    r.update(size_m=size_m, format=form, study=study, ranks=ranks, corpus_tokens=corpus_tokens,
             tokens_kind=tokens_kind)
    rc, wall, reason = "?", None, "missing"
    try:
        with open(os.path.join(run_dir, "status")) as fh:
            a, b, reason = fh.read().split()
            rc, wall = a, float(b)
    except (OSError, ValueError):
        pass
    r["status"] = "ok" if reason == "ok" else (f"FAIL rc={rc}" if reason == "failed" else f"KILLED {reason}")
    r["wall_s"] = fmt(wall)
    # Peak RSS per rank, from /usr/bin/time -f %M (KiB), measured from outside the process.
    rss = {}
    for f in glob.glob(os.path.join(run_dir, "rss.*")):
        try:
            with open(f) as fh:
                nums = [int(x) for x in re.findall(r"^\d+$", fh.read(), re.M)]
            if nums:
                rss[int(f.rsplit(".", 1)[1])] = nums[-1] / 1024
        except (OSError, ValueError):
            pass
    if rss:
        r["rss_mb_max"] = f"{max(rss.values()):.0f}"
        r["rss_mb_ranks"] = "/".join(f"{rss[k]:.0f}" for k in sorted(rss))
    log = ""
    try:
        with open(os.path.join(run_dir, "run.log"), errors="replace") as fh:
            log = fh.read()
    except OSError:
        pass
    vals = {}
    m = re.search(r"time: load ([\d.]+)s, plan ([\d.]+)s, forward ([\d.]+)s, reduce ([\d.]+)s, "
                  r"write ([\d.]+)s; (\d+) tokens", log)
    if m:
        for k, v in zip(("load", "plan", "forward", "reduce", "write"), m.groups()[:5]):
            vals[k] = float(v)
        vals["tokens"] = int(m.group(6))
    h5 = os.path.join(run_dir, "out.h5")
    bytes_read = None
    if os.path.exists(h5):
        try:
            import h5py
            with h5py.File(h5, "r") as f:
                a = f["/"].attrs
                for k in ("load", "plan", "forward", "reduce", "write"):
                    if f"time_{k}" in a:
                        vals[k] = float(a[f"time_{k}"])
                if "tokens_processed" in a:
                    vals["tokens"] = int(a["tokens_processed"])
                if "wall_time" in a:
                    vals["inproc_wall"] = float(a["wall_time"])
                # /run/bytes_read (per rank); any /run dataset named *bytes_read* / *read_bytes*.
                if "run" in f:
                    names = [n for n in f["run"] if "bytes_read" in n or "read_bytes" in n]
                    if names:
                        name = "bytes_read" if "bytes_read" in names else names[0]
                        bytes_read = [float(x) for x in f["run"][name][()].ravel()]
        except Exception as e:  # a results file of another layout: keep the stdout numbers
            r["note"] = f"h5: {type(e).__name__}"
    for k in ("load", "plan", "forward", "reduce", "write"):
        r[f"{k}_s"] = fmt(vals.get(k))
    r["inproc_wall_s"] = fmt(vals.get("inproc_wall"))
    tokens = vals.get("tokens")
    r["tokens"] = fmt(tokens)
    if tokens and vals.get("forward"):
        r["forward_tps"] = f"{tokens / vals['forward']:.0f}"
    if tokens and wall and reason == "ok":
        r["e2e_tps"] = f"{tokens / wall:.0f}"
        if vals.get("forward"):
            r["e2e_over_forward"] = f"{(tokens / wall) / (tokens / vals['forward']):.3f}"
    r["bytes_read_mb_max"] = f"{max(bytes_read) / 1e6:.1f}" if bytes_read else "n/a"
    if reason != "ok":
        err = [line for line in log.splitlines() if "error" in line.lower()]
        last = err[0] if err else log.strip().splitlines()[-1] if log.strip() else ""
        why = {"timeout": "killed: past NEUROLENS_SCALE_TIMEOUT",
               "memory": "killed: MemAvailable below NEUROLENS_SCALE_MEM_FLOOR_MB"}.get(reason, "")
        r["note"] = "; ".join(x for x in (why, last[:160]) if x)
    w = csv.DictWriter(sys.stdout, FIELDS, lineterminator="\n")
    w.writerow(r)
    sys.stderr.write(f"{size_m}M {form} {study} r{ranks}: {r['status']}, wall {r['wall_s'] or '-'} s, plan "
                     f"{r['plan_s'] or '-'} s, forward {r['forward_s'] or '-'} s, peak RSS {r['rss_mb_max'] or '-'} MB, "
                     f"{r['tokens'] or '-'} tokens\n")


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def other(r):
    parts = [num(r[k]) for k in ("load_s", "reduce_s", "write_s")]
    return "-" if any(x is None for x in parts) else f"{sum(parts):.2f}"


def table(csv_path, md_path, header_path):
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    out = []
    with open(header_path) as fh:
        out.append(fh.read().rstrip("\n"))
    out.append("")
    out.append("| corpus tokens | format | study | ranks | status | peak RSS/rank MB (max; per rank) | plan s | "
               "forward s | load+reduce+write s | wall s | forward tok/s | e2e tok/s | e2e/forward | bytes read/rank MB | tokens processed |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        approx = "~" if r.get("tokens_kind") != "exact" else ""
        out.append(f"| {approx}{int(r['corpus_tokens']):,} ({r['size_m']}M) | {r['format']} | {r['study']} | {r['ranks']} | "
                   f"{r['status']} | {r['rss_mb_max'] or '-'} ({r['rss_mb_ranks'] or '-'}) | {r['plan_s'] or '-'} | "
                   f"{r['forward_s'] or '-'} | {other(r)} | {r['wall_s'] or '-'} | {r['forward_tps'] or '-'} | "
                   f"{r['e2e_tps'] or '-'} | {r['e2e_over_forward'] or '-'} | {r['bytes_read_mb_max']} | "
                   f"{r['tokens'] or '-'} |")
    notes = [r for r in rows if r["note"]]
    if notes:
        out.append("")
        out.append("Notes:")
        for r in notes:
            out.append(f"- {r['size_m']}M {r['format']} {r['study']} {r['ranks']} rank(s): {r['note']}")
    ok = [r for r in rows if r["status"] == "ok"]
    sizes = sorted({int(r["size_m"]) if r["size_m"].isdigit() else float(r["size_m"]) for r in rows})
    out.append("")
    out.append("Checks (issue 15):")
    verdicts = []

    def check(name, passed, detail):
        v = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        verdicts.append(v)
        out.append(f"- {v}: {name}: {detail}")

    def find(size, form, study, ranks):
        for r in ok:
            if (r["size_m"] == str(size) and r["format"] == form and r["study"] == study
                    and r["ranks"] == str(ranks)):
                return r
        return None

    groups = sorted({(r["format"], r["study"]) for r in rows})

    def bounded(form, study):
        # A study that forwards a fixed sample budget (logistic: 2 batches of
        # logistic.sequences chunks) rather than the corpus: its plan and e2e checks would
        # measure MPI start-up, not the corpus.
        r = find(hi, form, study, 1) or find(hi, form, study, rank_counts[-1])
        if not r or num(r.get("tokens", "")) is None:
            return None
        ct = num(r.get("corpus_tokens", ""))
        tp = num(r["tokens"])
        if ct and tp is not None and tp < 0.01 * ct:
            return f"bounded sample: {int(tp):,} of {int(ct):,} corpus tokens forwarded"
        return None

    rank_counts = sorted({int(r["ranks"]) for r in rows})
    lo, hi = (sizes[0], sizes[-1]) if sizes else (None, None)
    # 1. Peak RSS independent of the corpus size.
    for form, study in groups:
        for rk in rank_counts:
            a, b = find(lo, form, study, rk), find(hi, form, study, rk)
            name = f"RSS {hi}M within 10% of {lo}M [{form} {study}, {rk} rank(s)]"
            if lo == hi:
                check(name, None, "only one corpus size")
            elif not (a and b and num(a["rss_mb_max"]) and num(b["rss_mb_max"])):
                check(name, False, "a run is missing or failed")
            else:
                ra, rb = num(a["rss_mb_max"]), num(b["rss_mb_max"])
                check(name, rb <= 1.10 * ra, f"{rb:.0f} MB vs {ra:.0f} MB ({rb / ra:.2f}x)")
    # 2. Plan time halves with 2 ranks (largest corpus; the other sizes shown for information).
    if 1 in rank_counts and 2 in rank_counts:
        for form, study in groups:
            if bounded(form, study):
                check(f"plan at 2 ranks <= 0.6x plan at 1 rank [{form} {study}]", None,
                      bounded(form, study))
                continue
            parts, verdict = [], None
            for s in sizes:
                a, b = find(s, form, study, 1), find(s, form, study, 2)
                if a and b and num(a["plan_s"]) and num(b["plan_s"]) is not None:
                    ratio = num(b["plan_s"]) / num(a["plan_s"])
                    parts.append(f"{s}M: {b['plan_s']} s / {a['plan_s']} s = {ratio:.2f}")
                    if s == hi:
                        verdict = ratio <= 0.6
                else:
                    parts.append(f"{s}M: missing")
                    if s == hi:
                        verdict = False
            check(f"plan at 2 ranks <= 0.6x plan at 1 rank, at {hi}M [{form} {study}]", verdict,
                  "; ".join(parts))
    else:
        out.append("- n/a: plan 2 ranks vs 1 rank (needs rank counts 1 and 2)")
    # 3. End to end within 10% of the forward pass alone (largest corpus).
    for form, study in groups:
        for rk in rank_counts:
            r = find(hi, form, study, rk)
            name = f"e2e tokens/s >= 90% of forward-only at {hi}M [{form} {study}, {rk} rank(s)]"
            if bounded(form, study):
                check(name, None, bounded(form, study))
            elif not r or num(r["e2e_over_forward"]) is None:
                check(name, False, "run missing or failed")
            else:
                check(name, num(r["e2e_over_forward"]) >= 0.9,
                      f"{r['e2e_tps']} vs {r['forward_tps']} tokens/s ({100 * num(r['e2e_over_forward']):.0f}%)")
    failed = [r for r in rows if r["status"] != "ok"]
    out.append("")
    out.append(f"Summary: {verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL, "
               f"{verdicts.count('n/a')} n/a; {len(rows) - len(failed)} of {len(rows)} runs ok.")
    text = "\n".join(out) + "\n"
    with open(md_path, "w") as fh:
        fh.write(text)
    sys.stdout.write(text)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "corpus":
        make_corpus(a[1], int(float(a[2])), int(a[3]), a[4])
    elif a[0] == "run":
        assert a[5] == "--"
        sys.exit(run(a[1], a[2], float(a[3]), float(a[4]), a[6:]))
    elif a[0] == "row":
        row(*a[1:8])
    elif a[0] == "header":
        csv.writer(sys.stdout, lineterminator="\n").writerow(FIELDS)
    elif a[0] == "table":
        table(a[1], a[2], a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
