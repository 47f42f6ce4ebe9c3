#!/usr/bin/env python3
"""Independent reference for `study = examples` (docs/examples.md), from captured activations.

Usage: examples_reference.py CAPTURE.h5 EXAMPLES.h5 SITE
  CAPTURE.h5   `neurolens capture --corpus C --seq-len T --hooks 'blocks.*.<SITE>'` of the same
               corpus (every window, corpus order; a GPT-2 vocabulary: no special tokens)
  EXAMPLES.h5  the study's results on that corpus, every layer of SITE
Recomputes with numpy (skewness and excess kurtosis as scipy.stats' defaults: biased), from the activations alone: the pilot quantiles and histogram
range, histogram counts, moments, fraction > 0, top-k / bottom-k (ties: smaller window id),
bucket counts, the per-bucket reservoirs and the random sample (splitmix64 priorities), and
compares; prints the first mismatches and exits 1 when any.
"""
import sys

import h5py
import numpy as np

MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


problems = []


def central(x, p):
    x = x.astype(np.float64)
    return ((x - x.mean(axis=0)) ** p).mean(axis=0)


def check(ok, what):
    if not ok:
        problems.append(what)


def main():
    cap_path, ex_path, site = sys.argv[1], sys.argv[2], sys.argv[3]
    cap = h5py.File(cap_path, "r")
    ex = h5py.File(ex_path, "r")
    g = ex["examples"].attrs
    T, k_top, k_bot = int(g["seq_len"]), int(g["top_k"]), int(g["bottom_k"])
    q, n_rand, P, bins = int(g["per_quantile"]), int(g["random_sample"]), int(g["pilot_windows"]), int(g["bins"])
    seed = int(g["seed"])
    tokens = cap["tokens"][()]
    n = tokens.shape[0]
    check(int(g["n_windows"]) == n, f"n_windows {g['n_windows']} != {n}")
    keys = np.array([splitmix64(seed ^ w) for w in range(n)], dtype=np.uint64)
    grp = ex[site]
    layers = grp["layer"][()]
    for li, layer in enumerate(layers):
        acts = cap[f"blocks.{layer}.{site}"][()].astype(np.float32)  # [n, T, W]
        W = acts.shape[2]
        wmax = acts.max(axis=1)  # [n, W]
        wmin = acts.min(axis=1)
        amax = acts.argmax(axis=1)
        amin = acts.argmin(axis=1)
        pil = wmax[:P]
        levels = [0.0, 0.5, 0.9, 0.99, 0.999]
        bounds = np.quantile(pil.astype(np.float64), levels, axis=0, method="linear").T  # [W, 5]
        got_b = grp["quantile_boundaries"][li]
        check(np.allclose(got_b, bounds, rtol=1e-5, atol=1e-6),
              f"layer {layer}: quantile_boundaries differ (max {np.abs(got_b - bounds).max()})")
        lo = acts[:P].min(axis=(0, 1)).astype(np.float64)
        hi = acts[:P].max(axis=(0, 1)).astype(np.float64)
        pad = 0.1 * (hi - lo)
        edges_ref = lo - pad
        got_e = grp["hist_edges"][li]
        check(np.allclose(got_e[:, 0], edges_ref, rtol=1e-5, atol=1e-6), f"layer {layer}: hist_edges[0]")
        check(np.allclose(got_e[:, -1], hi + pad, rtol=1e-5, atol=1e-6), f"layer {layer}: hist_edges[-1]")
        flat = acts.reshape(-1, W)
        got_h = grp["hist_counts"][li]
        got_stats = {name: grp[name][li] for name in ("mean", "variance", "skewness", "kurtosis", "frac_positive")}
        ref_stats = {
            "mean": flat.astype(np.float64).mean(axis=0),
            "variance": flat.astype(np.float64).var(axis=0),
            "skewness": central(flat, 3) / central(flat, 2) ** 1.5,
            "kurtosis": central(flat, 4) / central(flat, 2) ** 2 - 3.0,
            "frac_positive": (flat > 0).mean(axis=0),
        }
        for name in ref_stats:
            ok = np.allclose(got_stats[name], ref_stats[name], rtol=1e-6, atol=1e-9)
            check(ok, f"layer {layer}: {name} differs (max {np.abs(got_stats[name] - ref_stats[name]).max()})")
        check(np.array_equal(grp["max_activation"][li], flat.max(axis=0)), f"layer {layer}: max_activation")
        check(np.array_equal(grp["min_activation"][li], flat.min(axis=0)), f"layer {layer}: min_activation")
        got_qc = grp["quantile_count"][li]
        for k in range(W):
            e = got_e[k].astype(np.float32)
            x = flat[:, k]
            # Bins by the documented float32 rule: floor((x - edges[0]) * inv), inv = bins / (hi -
            # lo) in double (pilot range widened by 10%) rounded to float32; under / overflow
            # against edges[0] / edges[-1].
            inv = np.float32(bins / ((hi[k] + pad[k]) - (lo[k] - pad[k])))
            f = np.clip((x - e[0]) * inv, np.float32(0), np.float32(bins - 1))
            idx = f.astype(np.int64) + 1
            idx[x < e[0]] = 0
            idx[x > e[-1]] = bins + 1
            h = np.bincount(idx, minlength=bins + 2)
            if not np.array_equal(h, got_h[k]):
                check(False, f"layer {layer} neuron {k}: hist_counts {got_h[k].tolist()} != {h.tolist()}")
            # Top-k: larger max, then smaller window.
            order = np.lexsort((np.arange(n), -wmax[:, k]))[:k_top]
            if not np.array_equal(grp["top_window"][li, k][: len(order)], order):
                check(False, f"layer {layer} neuron {k}: top_window {grp['top_window'][li, k].tolist()} != {order.tolist()}")
            else:
                check(np.array_equal(grp["top_value"][li, k][: len(order)], wmax[order, k]), f"layer {layer} neuron {k}: top_value")
                check(np.array_equal(grp["top_position"][li, k][: len(order)], amax[order, k]), f"layer {layer} neuron {k}: top_position")
                check(np.array_equal(grp["top_tokens"][li, k][: len(order)], tokens[order]), f"layer {layer} neuron {k}: top_tokens")
                ref_a = acts[order, :, k].astype(np.float16)
                check(np.array_equal(grp["top_activations"][li, k][: len(order)], ref_a), f"layer {layer} neuron {k}: top_activations")
                check(np.array_equal(grp["top_document"][li, k][: len(order)], cap["sequence_document"][()][order]), f"layer {layer} neuron {k}: top_document")
                check(np.array_equal(grp["top_start"][li, k][: len(order)], cap["sequence_start"][()][order]), f"layer {layer} neuron {k}: top_start")
            if k_bot > 0:
                order = np.lexsort((np.arange(n), wmin[:, k]))[:k_bot]
                check(np.array_equal(grp["bottom_window"][li, k][: len(order)], order), f"layer {layer} neuron {k}: bottom_window")
                check(np.array_equal(grp["bottom_position"][li, k][: len(order)], amin[order, k]), f"layer {layer} neuron {k}: bottom_position")
            # Buckets with the stored (f32) boundaries; reservoirs by priority.
            b = got_b[k].astype(np.float32)
            bucket = (wmax[:, k][:, None] >= b[None, 1:5]).sum(axis=1)
            qc = np.bincount(bucket, minlength=5)
            check(np.array_equal(got_qc[k], qc), f"layer {layer} neuron {k}: quantile_count {got_qc[k].tolist()} != {qc.tolist()}")
            for bk in range(4):
                members = np.nonzero(bucket == bk)[0]
                sel = members[np.lexsort((members, keys[members]))][:q]
                got = grp["quantile_window"][li, k, bk]
                got = got[got >= 0]
                check(np.array_equal(got, sel), f"layer {layer} neuron {k} bucket {bk}: quantile_window {got.tolist()} != {sel.tolist()}")
            rsel = np.lexsort((np.arange(n), keys))[:n_rand]
            check(np.array_equal(ex["examples/random_window"][()], rsel), "random_window")
            check(np.array_equal(grp["random_value"][li, k][: len(rsel)], wmax[rsel, k]), f"layer {layer} neuron {k}: random_value")
            if len(problems) > 20:
                break
    if problems:
        print(f"{len(problems)} mismatch(es); first:")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(f"examples reference: {len(layers)} layer(s), {n} windows: all match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
