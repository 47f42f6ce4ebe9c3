#!/usr/bin/python3
"""Communication / time model of `neurolens run` against node count (docs/scaling.md).

Per-rank terms (P = N nodes x c cores, one rank per core, K neurons analysed, G groups):
  forward   tokens * flops_per_token / (P * R_core * e)          (R_core: sgemm GFLOP/s of one core, measured)
  load      weights read by every node from a shared file system: N * Wb / min(B_fs, N * B_node_read)
            (alternative: one reader + MPI_Bcast over the fabric: Wb / B_net * ~2 (pipelined tree))
  plan      tokenization: corpus_tokens / (P * tok_rate); window descriptors all-gathered to every
            rank: inter-node Wd (N-1)/N / B_net, intra-node c * Wd / B_mem
  reduce    reduce-scatter of moments, 5 doubles x K per group (hierarchical: intra-node reduce
            c * S / B_mem, inter-node S (N-1)/N / B_net, 2 log2(P) alpha)
            + 2 allgathers of K doubles (p for the family-wide correction, the statistic for the
            summary): every rank ends with the full vector: inter-node S (N-1)/N / B_net plus the
            intra-node fan-out c * S / B_mem, log2(P) alpha
            + logistic only: an allreduce of 6K doubles per Newton iteration (x iters)
  write     ~n_ds per-neuron float64 datasets of K values, collective MPI-IO: volume / min(B_fs, N * B_node_write)
            + n_ds * (t_coll0 + t_coll1 * N) of per-collective overhead (two-phase I/O, locking)
usage: scaling_model.py R_CORE_GFLOPS [markdown]
"""
import math
import sys

R_core = float(sys.argv[1]) * 1e9 if len(sys.argv) > 1 else 80e9
# GPT-2 XL
L, D, F, V = 48, 1600, 6400, 50257
K = L * F                       # 307,200 MLP neurons
params = L * (12 * D * D + 13 * D) + V * D + 1024 * D + 2 * D
Wb = params * 4                 # F32 bytes
T = 512                         # window length of an all-positions study
flops_tok = 2 * L * (4 * D * D + 2 * D * F) + 2 * L * 2 * D * (T / 2)   # GEMMs + attention (causal avg)
tokens = 100e6
# Machine / fabric assumptions
c = 64                          # cores (ranks) per node
e = 0.85                        # forward at 85% of the sgemm bound
B_net = 12.5e9                  # 100 Gb/s InfiniBand per node, bytes/s
alpha = 2e-6                    # latency per message step
B_mem = 20e9                    # intra-node copy bandwidth available to a collective
B_fs = 100e9                    # parallel file system, aggregate
B_node_read = 5e9               # one node's read rate from it
B_node_write = 2e9
tok_rate = 1e6                  # BPE tokens/s per core
Wd = 32 * tokens / T            # window descriptors (all positions: T-token windows)
G = 2
iters = 10                      # logistic Newton iterations
n_ds = 12
t_coll0, t_coll1 = 5e-3, 20e-6


def model(N, logistic=False):
    P = N * c
    r = {}
    # Batches of B windows are the unit of work: a rank runs ceil(batches / P) of them.
    W = tokens / T
    nb16 = math.ceil(W / 16)
    r["forward16"] = math.ceil(nb16 / P) * 16 * T * flops_tok / (R_core * e)
    B = min(range(1, 17), key=lambda b: (math.ceil(math.ceil(W / b) / P) * b, -b))  # best balance
    r["B"] = B
    r["forward"] = math.ceil(math.ceil(W / B) / P) * B * T * flops_tok / (R_core * e)
    r["load"] = N * Wb / min(B_fs, N * B_node_read)
    r["load_bcast"] = Wb / B_node_read / N + 2 * Wb / B_net if N > 1 else Wb / B_node_read
    r["plan"] = tokens / (P * tok_rate) + Wd * (N - 1) / N / B_net + c * Wd / B_mem
    S = 5 * 8 * K
    rs = G * (c * S / B_mem + S * (N - 1) / N / B_net + 2 * math.log2(P) * alpha)
    S1 = 8 * K
    ag = 2 * (S1 * (N - 1) / N / B_net + c * S1 / B_mem + math.log2(P) * alpha)
    lg = 0.0
    if logistic:
        S6 = 6 * 8 * K
        lg = iters * (2 * S6 * (N - 1) / N / B_net + 2 * c * S6 / B_mem + 2 * math.log2(P) * alpha)
    r["reduce"] = rs + ag + lg
    r["rs"], r["ag"], r["lg"] = rs, ag, lg
    r["write"] = n_ds * 8 * K / min(B_fs, N * B_node_write) + n_ds * (t_coll0 + t_coll1 * N)
    r["total"] = r["forward"] + r["load"] + r["plan"] + r["reduce"] + r["write"]
    r["total_bcast"] = r["total"] - r["load"] + r["load_bcast"]
    return r


base = model(1)
print(f"GPT-2 XL: {K} MLP neurons, {params / 1e9:.2f} B parameters = {Wb / 1e9:.1f} GB F32; "
      f"{flops_tok / 1e9:.2f} GFLOP/token (T = {T}, no LM head); {tokens / 1e6:.0f} M tokens = "
      f"{tokens * flops_tok / 1e15:.0f} PFLOP; R_core = {R_core / 1e9:.0f} GFLOP/s, e = {e}, {c} cores/node")
print()
print("| nodes | ranks | forward s (B = 16) | batch B | forward s | load s (FS) | plan s | reduce-scatter s | allgathers s | logistic allreduce s | write s | total s | efficiency | total with bcast load s | efficiency |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for N in (1, 2, 4, 10, 30, 100, 300, 1000):
    r = model(N, logistic=True)
    ideal = tokens * flops_tok / (N * c * R_core * e)
    eff = ideal / r["total"]
    eff_b = ideal / r["total_bcast"]
    print(f"| {N} | {N * c} | {r['forward16']:.1f} | {r['B']} | {r['forward']:.1f} | {r['load']:.2f} | {r['plan']:.3f} | {r['rs']:.3f} | {r['ag']:.4f} | "
          f"{r['lg']:.3f} | {r['write']:.3f} | {r['total']:.1f} | {100 * eff:.0f}% | {r['total_bcast']:.1f} | {100 * eff_b:.0f}% |")
