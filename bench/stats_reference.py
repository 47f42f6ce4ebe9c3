#!/usr/bin/python3
"""scipy / statsmodels beside bench/stats_bench.cpp on the same problem shape, same machine.

    /usr/bin/python3 bench/stats_reference.py [--bench build-stats/bench/stats_bench]
        [--layers 36] [--neurons 5120] [--samples 440] [--logit-subset 500]

Problem (as stats_bench.cpp, same distribution, numpy RNG): K = layers x neurons, N samples split
in half, x = effect_k * y + N(0, 1) in float32.
  * scipy: ONE vectorized call scipy.stats.ttest_ind(a, b, axis=0, equal_var=False) over all K
    neurons (the fastest way to use scipy; a Python loop over neurons would be far slower).
  * statsmodels: Logit(y, add_constant(x_k)).fit(disp=0) looped over `--logit-subset` (1000) neurons
    and extrapolated linearly to all K (a full loop takes many minutes).
Runs the C++ bench (single-threaded) and prints the speed ratios. Set OPENBLAS_NUM_THREADS=1 for
a one-thread comparison on both sides.
"""
import argparse
import os
import subprocess
import time
import warnings

import numpy as np
import scipy.stats as st
import statsmodels.api as sm

warnings.simplefilter("ignore")


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bench", default=os.path.join(here, "..", "build-stats", "bench", "stats_bench"))
    ap.add_argument("--layers", type=int, default=36)
    ap.add_argument("--neurons", type=int, default=5120)
    ap.add_argument("--samples", type=int, default=440)
    ap.add_argument("--logit-subset", type=int, default=1000)
    args = ap.parse_args()
    k, n = args.layers * args.neurons, args.samples
    na = n // 2

    out = subprocess.run([args.bench, "--layers", str(args.layers), "--neurons", str(args.neurons),
                          "--samples", str(n)], check=True, capture_output=True, text=True).stdout
    cpp = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            cpp[parts[0]] = float(parts[1])
    print(out.strip())

    rng = np.random.default_rng(1)
    effect = rng.uniform(-0.5, 0.5, k).astype(np.float32)
    y = (np.arange(n) >= na).astype(np.float64)
    x = (effect[None, :] * y[:, None].astype(np.float32) +
         rng.standard_normal((n, k), dtype=np.float32))
    X = x.astype(np.float64)

    t0, c0 = time.perf_counter(), time.process_time()
    r = st.ttest_ind(X[:na], X[na:], axis=0, equal_var=False)
    scipy_s, scipy_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"scipy_welch_seconds {scipy_s:.6f} cpu {scipy_cpu:.6f} "
          f"(one vectorized call over {k} neurons; float64 input)")
    del r

    m = min(args.logit_subset, k)
    t0, c0 = time.perf_counter(), time.process_time()
    for j in range(m):
        sm.Logit(y, sm.add_constant(X[:, j])).fit(disp=0)
    sub_s, sub_cpu = time.perf_counter() - t0, time.process_time() - c0
    sm_s, sm_cpu = sub_s * k / m, sub_cpu * k / m
    print(f"statsmodels_logit_seconds {sm_s:.3f} cpu {sm_cpu:.3f} "
          f"(extrapolated from {m} neurons: {sub_s:.3f} s wall)")

    print(f"ratio_welch_scipy_over_cpp wall {scipy_s / cpp['welch_seconds']:.1f} "
          f"cpu {scipy_cpu / cpp['welch_cpu_seconds']:.1f}")
    print(f"ratio_logit_statsmodels_over_cpp wall {sm_s / cpp['logistic_seconds']:.1f} "
          f"cpu {sm_cpu / cpp['logistic_cpu_seconds']:.1f}")


if __name__ == "__main__":
    main()
