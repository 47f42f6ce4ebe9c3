#!/usr/bin/python3
"""The demo studies done the way the original write-ups did them, in PyTorch (for bench/studies_bench.sh).

Procedure per study (../shared/studies.md), on the same checkpoint and the same windows:
  - An HF-style model WITH the LM head (ln_f + logits = h wte^T) computed on every forward, eval
    mode, no_grad; forward hooks on every block's mlp.c_fc that copy the full [B, T, F] output
    out (o.detach().clone()), as the write-ups did; hidden_states likewise from block outputs.
    Full windows: no stop at the target position.
  - Windows and sample positions / labels come from neurolens' own plan (bench/dump_plan writes
    windows.bin + samples.tsv), so both sides process identical token ids; target finding and
    tokenization are NOT timed here (they are part of neurolens' time): this favours PyTorch.
  - Statistics per neuron, in a Python loop over neurons, with the libraries the write-ups used:
      contrast: scipy.stats.ttest_ind(equal_var=False) (Welch), Bonferroni
      paired:   scipy.stats.ttest_1samp on the per-pair difference, Bonferroni
      length:   np.histogram per layer and group (64 bins), Welch t per neuron longer vs shorter
      logistic: statsmodels Logit per neuron on batch 1, Bonferroni; the top neurons' AUC on batch 2
      sampling: 1000 random batches of 32 chunks x 256 tokens, each batch a forward pass, argmax
                over the batch per dimension, tally of winning tokens. Runs --sampling-reps of the
                1000 batches and extrapolates linearly to 1000 (printed as such).
  The vectorized statistics time (scipy with axis=0 / numpy over all neurons at once) is printed
  too, for a second, less literal baseline.
Prints per phase and "torch total: <seconds> s" (for sampling: the extrapolated total).
  /usr/bin/python3 bench/studies_torch.py --study contrast --plan /tmp/plan_contrast \
      --model build/demo/model --threads 1 [--batch-size 32]
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forward_torch import load_model  # noqa: E402


class HFModel:
    """HF GPT2LMHeadModel-style forward: embeddings, blocks, ln_f, tied LM head (logits)."""

    def __init__(self, d):
        t0 = time.perf_counter()
        self.blocks, p, self.cfg = load_model(d)
        self.wte, self.wpe = p["wte.weight"], p["wpe.weight"]
        eps = self.cfg.get("layer_norm_epsilon", 1e-5)
        D = self.wte.shape[1]
        self.ln_f = torch.nn.LayerNorm(D, eps=eps)
        self.ln_f.weight.data, self.ln_f.bias.data = p["ln_f.weight"], p["ln_f.bias"]
        self.captured = {}
        self.want_hidden = False
        for l, b in enumerate(self.blocks):
            b.c_fc.register_forward_hook(
                lambda m, i, o, l=l: self.captured.__setitem__(f"mlp.{l}", o.detach().clone()))
            b.register_forward_hook(self._hidden_hook(l))
        self.t_lm_head = 0.0
        self.load_time = time.perf_counter() - t0

    def _hidden_hook(self, l):
        def hook(m, i, o):
            if self.want_hidden and l + 1 < len(self.blocks):
                self.captured[f"hidden.{l + 1}"] = o.detach().clone()
        return hook

    @torch.no_grad()
    def __call__(self, ids):
        self.captured.clear()
        T = ids.shape[1]
        h = self.wte[ids] + self.wpe[torch.arange(T)][None]
        if self.want_hidden:
            self.captured["hidden.0"] = h.clone()
        for b in self.blocks:
            h = b(h)
        t0 = time.perf_counter()
        h = self.ln_f(h)
        if self.want_hidden:
            self.captured[f"hidden.{len(self.blocks)}"] = h.clone()
        logits = torch.matmul(h, self.wte.t())
        self.t_lm_head += time.perf_counter() - t0
        return logits


def read_plan(d):
    meta = json.load(open(os.path.join(d, "plan.json")))
    W, T = meta["windows"], meta["window_length"]
    windows = np.fromfile(os.path.join(d, "windows.bin"), dtype=np.int32).reshape(W, T)
    s = np.loadtxt(os.path.join(d, "samples.tsv"), dtype=np.int64, skiprows=1, ndmin=2)
    samples = {k: s[:, i] for i, k in enumerate(["window", "position", "label", "pair_id", "token", "word"])}
    return meta, windows, samples


def mlp_rows(model, layers):
    """[B, T, L*F] of the captured c_fc outputs."""
    return torch.cat([model.captured[f"mlp.{l}"] for l in range(layers)], dim=-1)


def forward_samples(model, windows, samples, idx, batch_size):
    """Forward the windows of samples idx (in batches of batch_size windows, full windows, LM head
    computed); returns [len(idx), L*F] activations at the samples' positions."""
    L = len(model.blocks)
    ws = np.unique(samples["window"][idx])
    out = np.empty((len(idx), L * model.captured_width), dtype=np.float32)
    where = {w: i for i, w in enumerate(ws)}
    pos_of = {}
    for j, s in enumerate(idx):
        pos_of.setdefault(where[samples["window"][s]], []).append((j, samples["position"][s]))
    for b0 in range(0, len(ws), batch_size):
        chunk = ws[b0:b0 + batch_size]
        model(torch.from_numpy(windows[chunk].astype(np.int64)))
        acts = mlp_rows(model, L).numpy()
        for r in range(len(chunk)):
            for j, p in pos_of.get(b0 + r, []):
                out[j] = acts[r, p]
    return out


def welch_loop(a, b):
    from scipy import stats
    K = a.shape[1]
    t = np.empty(K)
    p = np.empty(K)
    for k in range(K):
        t[k], p[k] = stats.ttest_ind(a[:, k], b[:, k], equal_var=False)
    return t, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", required=True, choices=["contrast", "paired", "sampling", "length", "logistic"])
    ap.add_argument("--plan", required=True)
    ap.add_argument("--model", default="build/demo/model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sampling-reps", type=int, default=20)
    ap.add_argument("--sampling-batch", type=int, default=32)
    ap.add_argument("--sequences", type=int, default=8, help="logistic: windows of batch 1")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")
    from scipy import stats

    t_start = time.perf_counter()
    c_start = time.process_time()
    model = HFModel(a.model)
    meta, windows, samples = read_plan(a.plan)
    L = len(model.blocks)
    F = model.blocks[0].c_fc.weight.shape[1 if model.cfg.get("model_type") != "gpt_neo" else 0]
    model.captured_width = F
    t_fwd = t_stats = t_stats_vec = 0.0
    extrapolated = None
    label = samples["label"]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {a.study}: "
          f"{meta['windows']} windows x {meta['window_length']} tokens, {len(label)} samples")

    if a.study in ("contrast", "paired"):
        # One forward pass per group, as the write-ups did (in batches of --batch-size windows).
        t0 = time.perf_counter()
        ia = np.flatnonzero(label == 0)
        ib = np.flatnonzero(label == 1)
        if a.study == "paired":  # order both groups by pair id so rows pair up
            ia = ia[np.argsort(samples["pair_id"][ia], kind="stable")]
            ib = ib[np.argsort(samples["pair_id"][ib], kind="stable")]
        xa = forward_samples(model, windows, samples, ia, a.batch_size)
        xb = forward_samples(model, windows, samples, ib, a.batch_size)
        t_fwd = time.perf_counter() - t0
        t0 = time.perf_counter()
        if a.study == "contrast":
            t, p = welch_loop(xa.astype(np.float64), xb.astype(np.float64))
        else:
            diff = xa.astype(np.float64) - xb.astype(np.float64)
            K = diff.shape[1]
            t, p = np.empty(K), np.empty(K)
            for k in range(K):
                t[k], p[k] = stats.ttest_1samp(diff[:, k], 0.0)
        sig = np.sum(p < 0.05 / np.sum(~np.isnan(p)))
        t_stats = time.perf_counter() - t0
        t0 = time.perf_counter()
        if a.study == "contrast":
            stats.ttest_ind(xa, xb, axis=0, equal_var=False)
        else:
            stats.ttest_1samp(xa.astype(np.float64) - xb, 0.0, axis=0)
        t_stats_vec = time.perf_counter() - t0
        top = int(np.nanargmax(np.abs(t)))
        print(f"n_a {len(ia)}, n_b {len(ib)}; Bonferroni-significant {sig} of {len(t)}; "
              f"top |t|: layer {top // F} neuron {top % F}, t = {t[top]:+.1f}")
    elif a.study == "length":
        # The whole 16 x 512 batch in one forward pass, as the write-up did.
        t0 = time.perf_counter()
        model(torch.from_numpy(windows.astype(np.int64)))
        acts = mlp_rows(model, L).numpy()
        rows = acts[samples["window"], samples["position"]]
        t_fwd = time.perf_counter() - t0
        t0 = time.perf_counter()
        for l in range(L):
            x = rows[:, l * F:(l + 1) * F]
            edges = np.linspace(x.min(), x.max(), 65)
            for g in (0, 1, 2):
                np.histogram(x[label == g].ravel(), bins=edges)
        t, p = welch_loop(rows[label == 0].astype(np.float64), rows[label == 1].astype(np.float64))
        t_stats = time.perf_counter() - t0
        t0 = time.perf_counter()
        stats.ttest_ind(rows[label == 0], rows[label == 1], axis=0, equal_var=False)
        t_stats_vec = time.perf_counter() - t0
        top = int(np.nanargmax(np.abs(t)))
        print(f"longer {np.sum(label == 0)}, shorter {np.sum(label == 1)}, equal {np.sum(label == 2)}; "
              f"top |t|: layer {top // F} neuron {top % F}, t = {t[top]:+.1f}")
    elif a.study == "logistic":
        import statsmodels.api as sm
        t0 = time.perf_counter()
        model(torch.from_numpy(windows.astype(np.int64)))  # batch 1 and batch 2: 2 x 8 x 256
        acts = mlp_rows(model, L).numpy()
        rows = acts[samples["window"], samples["position"]].astype(np.float64)
        t_fwd = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit = samples["window"] < a.sequences
        y = (label == 1).astype(np.float64)  # group b = proper nouns
        X, yf = rows[fit], y[fit]
        K = X.shape[1]
        beta, p = np.full(K, np.nan), np.full(K, np.nan)
        for k in range(K):
            try:
                r = sm.Logit(yf, sm.add_constant(X[:, k])).fit(disp=0)
                beta[k], p[k] = r.params[1], r.pvalues[1]
            except Exception:  # perfect separation: no finite MLE
                pass
        sig = np.sum(p < 0.05 / np.sum(~np.isnan(p)))
        # Out of sample: the top neurons by |beta| among the significant, AUC on batch 2.
        order = np.argsort(-np.nan_to_num(np.abs(beta)))[:10]
        Xh, yh = rows[~fit], y[~fit]
        aucs = []
        for k in order:
            r = stats.rankdata(Xh[:, k])
            n1 = yh.sum()
            n0 = len(yh) - n1
            aucs.append((r[yh == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0) if n1 and n0 else np.nan)
        t_stats = time.perf_counter() - t0
        print(f"fit samples {int(fit.sum())}, held out {int((~fit).sum())}; significant {sig} of {K} "
              f"({int(np.sum(np.isnan(p)))} failed / separated); top |beta| layer {order[0] // F} "
              f"neuron {order[0] % F}, held-out AUC {aucs[0]:.3f}")
    elif a.study == "sampling":
        # Original: 1000 random batches of 32 chunks x 256 tokens, a forward pass each (hidden
        # states and c_fc hooks), argmax over the 32 x 256 positions per dimension, tally.
        model.want_hidden = True
        rng = np.random.default_rng(a.seed)
        n_chunks = windows.shape[0]
        tallies = {}
        t0 = time.perf_counter()
        for r in range(a.sampling_reps):
            pick = rng.choice(n_chunks, size=min(a.sampling_batch, n_chunks), replace=False)
            ids = torch.from_numpy(windows[pick].astype(np.int64))
            model(ids)
            flat_ids = ids.reshape(-1).numpy()
            for name, act in model.captured.items():
                x = act.reshape(-1, act.shape[-1])
                win = flat_ids[torch.argmax(x, dim=0).numpy()]
                tallies.setdefault(name, []).append(win)
        t_fwd = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name, wins in tallies.items():
            w = np.stack(wins)
            for k in range(w.shape[1]):
                np.unique(w[:, k], return_counts=True)
        t_stats = time.perf_counter() - t0
        scale = 1000.0 / a.sampling_reps
        extrapolated = model.load_time + (t_fwd + t_stats) * scale
        c_used = time.process_time() - c_start
        cpu_extrapolated = c_used + (c_used - model.load_time) * (scale - 1)  # load once
        print(f"{a.sampling_reps} of 1000 batches run: forward+hooks+argmax {t_fwd:.2f} s, tally "
              f"{t_stats:.2f} s; x{scale:.0f} -> extrapolated to 1000 batches")
        t_fwd *= scale
        t_stats *= scale
        model.t_lm_head *= scale

    total = time.perf_counter() - t_start if extrapolated is None else extrapolated
    cpu_total = time.process_time() - c_start if extrapolated is None else cpu_extrapolated
    print(f"torch phases: load {model.load_time:.2f} s, forward+hooks {t_fwd:.2f} s "
          f"(of which ln_f + LM head {model.t_lm_head:.2f} s), statistics (per-neuron loop) "
          f"{t_stats:.2f} s, statistics vectorized {t_stats_vec:.2f} s")
    print(f"torch total: {total:.2f} s")
    print(f"torch cpu total: {cpu_total:.2f} s")
    print(f"torch total without LM head: {total - model.t_lm_head:.2f} s")


if __name__ == "__main__":
    main()
