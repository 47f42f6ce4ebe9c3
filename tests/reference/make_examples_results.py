#!/usr/bin/python3
"""A tiny `study = examples` results file in exactly the docs/examples.md layout, written with
h5py independently of the C++ writer, with known values (tests/runner/results/examples_reader_test,
the export tests).

    /usr/bin/python3 tests/reference/make_examples_results.py [OUT.h5]

Default output: tests/fixtures/examples/examples.h5 (committed; CI only reads it).

Corpus: 2 documents of 24 tokens, cut into 6 windows of seq_len 8 (window w: document w // 3,
start 8 * (w % 3)); windows 0 and 3 open their document with the special token 0
(<|endoftext|>, activation NaN). Vocabulary (13 tokens, GPT-2-like byte-level): token 9 holds
only the first byte (0xC3) of "é" and token 10 its last byte (0xA9); token 12 is the lone byte
0xFF, which never forms a character.

Sites: `mlp.hook_post` (layers [1, 2] x 3 neurons, with logit effects) and `hook_resid_post`
(layer [2] x 2 neurons, no logit effects). The activation of neuron n of the site's row li at
position t of window w is

    ((5 w^2 + 13 t + 5 li + 11 n + site_offset) % 23 - 6) / 4      (site_offset 0, resp. 3)

(multiples of 0.25 in [-1.5, 4], exact in f16). Top-k, bottom-k, quantile reservoirs, the
random sample, moments, histogram and counts are computed from these by the rules of
docs/examples.md (ties: smaller window id; priority splitmix64(seed ^ window)). Then, to test
empty-slot handling, some slots are blanked to the file's padding (-1 ids, NaN values):
  * mlp.hook_post row 0 neuron 1 keeps only 2 of its 3 top windows,
  * mlp.hook_post row 1 neuron 2 keeps 1 top window, whose last two tokens are -1 (NaN),
  * mlp.hook_post row 0 neuron 2 keeps 1 of its 2 bottom windows,
  (reservoir buckets with fewer windows than per_quantile are padded as the study pads them).
"""
import os
import sys

import h5py
import numpy as np

T, TOP_K, BOTTOM_K, PER_Q, R, BINS, LOGIT_N = 8, 3, 2, 2, 2, 4, 2
SEED = 1234
LEVELS = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0]

VOCAB = [b"<|endoftext|>", b"The", b" cat", b" sat", b" on", b" the", b" mat", b".", b" caf",
         b"\xc3", b"\xa9", b"\n", b"\xff"]
SPECIAL = [1] + [0] * (len(VOCAB) - 1)

WINDOWS = [
    [0, 1, 2, 3, 4, 5, 6, 7],    # <|endoftext|>The cat sat on the mat.
    [11, 1, 8, 9, 10, 2, 3, 7],  # \nThe café cat sat.
    [5, 6, 4, 8, 9, 10, 7, 11],  # the mat on café.\n
    [0, 1, 8, 9, 5, 12, 7, 11],  # <|endoftext|>The caf\xc3 the\xff.\n
    [2, 3, 4, 5, 6, 7, 11, 1],   # cat sat on the mat.\nThe
    [1, 2, 9, 10, 9, 10, 7, 11],  # The catéé.\n
]
NW = len(WINDOWS)
SITES = [("mlp.hook_post", [1, 2], 3, 0, True), ("hook_resid_post", [2], 2, 3, False)]


def splitmix64(x):
    m = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & m
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


PRIORITY = [splitmix64(SEED ^ w) for w in range(NW)]
BY_PRIORITY = sorted(range(NW), key=lambda w: (PRIORITY[w], w))
RANDOM_WINDOWS = BY_PRIORITY[:R]


def activations(w, li, n, offset):
    a = np.array([((5 * w * w + 13 * t + 5 * li + 11 * n + offset) % 23 - 6) / 4 for t in range(T)],
                 dtype=np.float64)
    for t, tok in enumerate(WINDOWS[w]):
        if SPECIAL[tok]:
            a[t] = np.nan
    return a


def window_max(a):
    return float(np.nanmax(a)), int(np.nanargmax(a))


def window_min(a):
    return float(np.nanmin(a)), int(np.nanargmin(a))


def pad(shape, fill, dtype):
    return np.full(shape, fill, dtype=dtype)


def write_site(f, name, layers, width, offset, mlp):
    g = f.create_group(name)
    L, W = len(layers), width
    layer = g.create_dataset("layer", data=np.array(layers, dtype=np.int64))
    layer.make_scale("layer")
    neuron = g.create_dataset("neuron", data=np.arange(W, dtype=np.int64))
    neuron.make_scale("neuron")
    g.attrs["width"] = np.int64(W)
    g.attrs["n_layers"] = np.int64(L)

    d = {}

    def arr(key, shape, fill, dtype):
        d[key] = pad(shape, fill, dtype)

    for key in ("mean", "variance", "skewness", "kurtosis", "frac_positive"):
        arr(key, (L, W), np.nan, np.float64)
    arr("max_activation", (L, W), np.nan, np.float32)
    arr("min_activation", (L, W), np.nan, np.float32)
    arr("hist_edges", (L, W, BINS + 1), np.nan, np.float32)
    arr("hist_counts", (L, W, BINS + 2), 0, np.int64)
    arr("quantile_boundaries", (L, W, 5), np.nan, np.float32)
    arr("quantile_count", (L, W, 5), 0, np.int64)
    for prefix, k in (("top", TOP_K), ("bottom", BOTTOM_K)):
        arr(prefix + "_value", (L, W, k), np.nan, np.float32)
        for key in ("window", "document", "start"):
            arr(f"{prefix}_{key}", (L, W, k), -1, np.int64)
        arr(prefix + "_position", (L, W, k), -1, np.int32)
        arr(prefix + "_tokens", (L, W, k, T), -1, np.int32)
        arr(prefix + "_activations", (L, W, k, T), np.nan, np.float16)
    arr("quantile_value", (L, W, 4, PER_Q), np.nan, np.float32)
    for key in ("window", "document", "start"):
        arr("quantile_" + key, (L, W, 4, PER_Q), -1, np.int64)
    arr("quantile_position", (L, W, 4, PER_Q), -1, np.int32)
    arr("quantile_tokens", (L, W, 4, PER_Q, T), -1, np.int32)
    arr("quantile_activations", (L, W, 4, PER_Q, T), np.nan, np.float16)
    arr("random_value", (L, W, R), np.nan, np.float32)
    arr("random_position", (L, W, R), -1, np.int32)
    arr("random_activations", (L, W, R, T), np.nan, np.float16)
    if mlp:
        arr("logit_top_token", (L, W, LOGIT_N), -1, np.int32)
        arr("logit_bottom_token", (L, W, LOGIT_N), -1, np.int32)
        arr("logit_top_value", (L, W, LOGIT_N), np.nan, np.float32)
        arr("logit_bottom_value", (L, W, LOGIT_N), np.nan, np.float32)

    def put(prefix, li, n, slot, w, value, position, acts, idx=()):
        at = (li, n) + idx + (slot,)
        d[prefix + "_value"][at] = value
        d[prefix + "_window"][at] = w
        d[prefix + "_document"][at] = w // 3
        d[prefix + "_start"][at] = 8 * (w % 3)
        d[prefix + "_position"][at] = position
        d[prefix + "_tokens"][at] = WINDOWS[w]
        d[prefix + "_activations"][at] = acts

    for li in range(L):
        for n in range(W):
            acts = [activations(w, li, n, offset) for w in range(NW)]
            maxes = [window_max(a) for a in acts]
            mins = [window_min(a) for a in acts]
            every = np.concatenate(acts)
            every = every[~np.isnan(every)]
            mean = every.mean()
            var = every.var()
            sd = np.sqrt(var)
            d["mean"][li, n] = mean
            d["variance"][li, n] = var
            d["skewness"][li, n] = np.mean((every - mean) ** 3) / sd ** 3
            d["kurtosis"][li, n] = np.mean((every - mean) ** 4) / var ** 2 - 3
            d["frac_positive"][li, n] = np.mean(every > 0)
            d["max_activation"][li, n] = every.max()
            d["min_activation"][li, n] = every.min()
            lo, hi = every.min(), every.max()
            lo, hi = lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
            edges = np.linspace(lo, hi, BINS + 1).astype(np.float32)
            d["hist_edges"][li, n] = edges
            counts = np.zeros(BINS + 2, dtype=np.int64)
            for x in every:
                if x < edges[0]:
                    counts[0] += 1
                elif x > edges[-1]:
                    counts[-1] += 1
                else:
                    counts[1 + min(int(np.searchsorted(edges, x, side="right")) - 1, BINS - 1)] += 1
            d["hist_counts"][li, n] = counts

            window_maxima = np.array([m for m, _ in maxes])
            bounds = np.quantile(window_maxima, LEVELS[:5], method="linear").astype(np.float32)
            d["quantile_boundaries"][li, n] = bounds
            buckets = [[] for _ in range(5)]
            for w in range(NW):
                m = window_maxima[w]
                b = 4 if m >= bounds[4] else max(b for b in range(4) if b == 0 or m >= bounds[b])
                buckets[b].append(w)
            d["quantile_count"][li, n] = [len(b) for b in buckets]
            for b in range(4):
                chosen = sorted(buckets[b], key=lambda w: (PRIORITY[w], w))[:PER_Q]
                for slot, w in enumerate(chosen):
                    put("quantile", li, n, slot, w, maxes[w][0], maxes[w][1], acts[w], (b,))

            top = sorted(range(NW), key=lambda w: (-maxes[w][0], w))[:TOP_K]
            if (name, li, n) == ("mlp.hook_post", 0, 1):
                top = top[:2]
            if (name, li, n) == ("mlp.hook_post", 1, 2):
                top = top[:1]
            for slot, w in enumerate(top):
                put("top", li, n, slot, w, maxes[w][0], maxes[w][1], acts[w])
            if (name, li, n) == ("mlp.hook_post", 1, 2):
                d["top_tokens"][li, n, 0, T - 2:] = -1
                d["top_activations"][li, n, 0, T - 2:] = np.nan
            bottom = sorted(range(NW), key=lambda w: (mins[w][0], w))[:BOTTOM_K]
            if (name, li, n) == ("mlp.hook_post", 0, 2):
                bottom = bottom[:1]
            for slot, w in enumerate(bottom):
                put("bottom", li, n, slot, w, mins[w][0], mins[w][1], acts[w])

            for slot, w in enumerate(RANDOM_WINDOWS):
                d["random_value"][li, n, slot] = maxes[w][0]
                d["random_position"][li, n, slot] = maxes[w][1]
                d["random_activations"][li, n, slot] = acts[w]

            if mlp:
                V = len(VOCAB)
                d["logit_top_token"][li, n] = [(li + n + 1) % V, (li + n + 2) % V]
                d["logit_top_value"][li, n] = [2.5 - 0.5 * n, 1.25]
                d["logit_bottom_token"][li, n] = [(li + 2 * n + 5) % V, (li + 2 * n + 6) % V]
                d["logit_bottom_value"][li, n] = [-(1.5 + 0.25 * n), -0.75]

    for key, value in d.items():
        ds = g.create_dataset(key, data=value)
        ds.dims[0].attach_scale(layer)
        ds.dims[1].attach_scale(neuron)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "examples",
                                                              "examples.h5")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with h5py.File(tmp, "w", track_order=False) as f:
        f.attrs["study"] = "examples"
        f.attrs["test"] = "none"
        f.attrs["model"] = "/nonexistent/gpt2-examples-fixture"
        f.attrs["model_type"] = "gpt2"
        f.attrs["tokenizer"] = "GPT-2 byte-level BPE (fixture, 13 tokens)"
        f.attrs["version"] = "fixture"
        f.attrs["n_ranks"] = np.int64(1)
        f.attrs["tokens_processed"] = np.int64(NW * T)
        f.attrs["corpus_tokens"] = np.int64(NW * T)
        f.attrs["n_windows"] = np.int64(NW)

        e = f.create_group("examples")
        for key, value in (("seq_len", T), ("top_k", TOP_K), ("bottom_k", BOTTOM_K),
                           ("per_quantile", PER_Q), ("random_sample", R), ("bins", BINS),
                           ("logit_tokens", LOGIT_N), ("pilot_windows", NW), ("n_windows", NW),
                           ("n_tokens", NW * T - 2), ("seed", SEED)):
            e.attrs[key] = np.int64(value)
        e.attrs["tie_rule"] = "smaller window id"
        e.attrs["kurtosis"] = "excess (Fisher)"
        e.attrs["variance"] = "population (ddof 0)"
        e.create_dataset("quantile_levels", data=np.array(LEVELS, dtype=np.float64))
        offsets = np.zeros(len(VOCAB) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(t) for t in VOCAB])
        e.create_dataset("token_offsets", data=offsets)
        e.create_dataset("token_bytes", data=np.frombuffer(b"".join(VOCAB), dtype=np.uint8))
        e.create_dataset("special_token", data=np.array(SPECIAL, dtype=np.uint8))
        e.create_dataset("random_window", data=np.array(RANDOM_WINDOWS, dtype=np.int64))
        e.create_dataset("random_document", data=np.array([w // 3 for w in RANDOM_WINDOWS],
                                                          dtype=np.int64))
        e.create_dataset("random_start", data=np.array([8 * (w % 3) for w in RANDOM_WINDOWS],
                                                       dtype=np.int64))
        e.create_dataset("random_tokens", data=np.array([WINDOWS[w] for w in RANDOM_WINDOWS],
                                                        dtype=np.int32))
        for site in SITES:
            write_site(f, *site)
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main()
