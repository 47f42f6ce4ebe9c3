#!/usr/bin/python3
"""corpus_scale_model.py — per-rank memory / I/O / time of a study over 1B and 10B tokens on
1-1000 nodes (docs/scaling.md, "Corpus scale"). Every input is a flag; the defaults are GPT-2 XL
(F32) on 64-core nodes with the ASSUMED rates of docs/scaling.md, to be replaced by measured
ones (bench/corpus_scale.sh, bench/forward_bench, `neurolens run --dry-run`'s memory/rank).

  per rank  memory  = Wb (mmap, shared by the node's c ranks: Pss Wb / c) + M_base + 2 M_batch
                      + M_seg + M_stats,   M_seg = S_seg (1 + 4 / b_tok) + 32 w_seg
            corpus  = N_tok b_tok / P bytes read (+ at most one document past each segment)
            plan    = ceil(n_seg / P) S_seg / b_tok / r_tok       n_seg = N_tok b_tok / S_seg
            forward = f_fwd N_tok / (P r_fwd)                     (windows rebalanced over ranks)
                    | ceil(n_seg / P) (S_seg / b_tok) f_fwd / r_fwd   (each rank its own segments)
            load    = N Wb / min(B_fs, N B_node)  (mmap)  |  Wb / B_node + Wb / B_net  (broadcast)
            e2e     = forward / (load + plan + forward + reduce_write)  (plan not overlapped)
usage: bench/corpus_scale_model.py [--tokens 1e9,1e10] [--nodes 1,10,100,1000] [--r-fwd 56] ...
"""
import argparse
import math

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--tokens", default="1e9,1e10", help="corpus tokens, comma-separated")
p.add_argument("--nodes", default="1,10,100,1000")
p.add_argument("--cores", type=int, default=64, help="ranks per node (c)")
p.add_argument("--weights-gb", type=float, default=6.2, help="Wb: weights in memory, GB (GPT-2 XL F32)")
p.add_argument("--k", type=int, default=307200, help="K: analysed neurons")
p.add_argument("--groups", type=int, default=2, help="G: sample groups (moment records per neuron)")
p.add_argument("--batch-mb", type=float, default=400.0,
               help="M_batch: one batch's working set per rank, MB (<<MEASURED: dry-run memory/rank - weights>>)")
p.add_argument("--base-mb", type=float, default=60.0,
               help="M_base: runtime baseline per rank (MPI, tokenizer, code), MB (<<MEASURED>>)")
p.add_argument("--stats-bytes-per-neuron", type=float, default=None,
               help="M_stats / K: default 40 G (5 doubles per group: contrast, length's t-test)")
p.add_argument("--segment-mib", type=float, default=1.0, help="S_seg: segment size, MiB")
p.add_argument("--bytes-per-token", type=float, default=4.58,
               help="b_tok: input bytes per token (JSON Lines English text 4.58 measured on nlp-corpus; "
                    "uint16 .bin 2; .jsonl.zst ~4.58 / compression ratio)")
p.add_argument("--windows-per-token", type=float, default=0.03, help="w: plan windows per corpus token")
p.add_argument("--r-fwd", type=float, default=56.0,
               help="forward tokens/s per rank (GPT-2 XL: 200 GFLOP/s x 0.85 / 3.03 GFLOP; <<MEASURED>>)")
p.add_argument("--r-tok", type=float, default=2.4e6,
               help="tokenizer tokens/s per rank (11 MB/s / 4.58 B; 0 = pre-tokenized .bin: read only)")
p.add_argument("--f-fwd", type=float, default=1.0,
               help="forward tokens per corpus token (length / sampling / logistic ~1; contrast: w (before + 1))")
p.add_argument("--b-fs-gbs", type=float, default=100.0, help="B_fs: file system aggregate read, GB/s")
p.add_argument("--b-node-gbs", type=float, default=5.0, help="B_node: read per node, GB/s")
p.add_argument("--b-net-gbs", type=float, default=12.5, help="B_net: network per node, GB/s")
p.add_argument("--reduce-write-s", type=float, default=1.5,
               help="reduce + write, s (docs/scaling.md model: ~1-1.5 s for K = 307,200)")
p.add_argument("--load", choices=("mmap", "broadcast"), default="broadcast")
a = p.parse_args()

GB, MB = 1e9, 1e6
seg = a.segment_mib * 2**20
stats = a.k * (a.stats_bytes_per_neuron if a.stats_bytes_per_neuron is not None else 40 * a.groups)
wb = a.weights_gb * GB
m_seg = seg * (1 + 4 / a.bytes_per_token) + 32 * a.windows_per_token * seg / a.bytes_per_token
mem = wb + a.base_mb * MB + 2 * a.batch_mb * MB + m_seg + stats
pss = wb / a.cores + a.base_mb * MB + 2 * a.batch_mb * MB + m_seg + stats
print(f"per rank, independent of the corpus: RSS {mem / MB:,.0f} MB (weights {wb / MB:,.0f} shared; "
      f"Pss {pss / MB:,.0f} MB), of which segment {m_seg / MB:.1f} MB, statistics {stats / MB:.1f} MB, "
      f"2 batches {2 * a.batch_mb:.0f} MB; load = {a.load}; r_fwd {a.r_fwd:g} tok/s/rank, "
      f"r_tok {a.r_tok:g} tok/s/rank, b_tok {a.bytes_per_token:g} B, S_seg {a.segment_mib:g} MiB")
print()
print("| tokens | nodes | ranks | segments | segments/rank | corpus read/rank MB | load s | plan s | "
      "forward s (rebalanced) | forward s (own segments) | total s | e2e / forward | hours |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for n_tok in (float(x) for x in a.tokens.split(",")):
    for n in (int(x) for x in a.nodes.split(",")):
        P = n * a.cores
        c_bytes = n_tok * a.bytes_per_token
        n_seg = math.ceil(c_bytes / seg)
        per = math.ceil(n_seg / P)
        if a.load == "mmap":
            load = n * wb / min(a.b_fs_gbs * GB, n * a.b_node_gbs * GB)
        else:
            load = wb / (a.b_node_gbs * GB) + wb / (a.b_net_gbs * GB)
        read = per * seg / min(a.b_node_gbs * GB / a.cores, a.b_fs_gbs * GB / P)
        plan = (per * seg / a.bytes_per_token / a.r_tok if a.r_tok > 0 else 0.0) + read
        fwd = a.f_fwd * n_tok / (P * a.r_fwd)
        fwd_own = per * seg / a.bytes_per_token * a.f_fwd / a.r_fwd
        total = load + plan + fwd + a.reduce_write_s
        print(f"| {n_tok:.0e} | {n} | {P:,} | {n_seg:,} | {per} ({n_seg / P:.2f}) | {c_bytes / P / MB:,.1f} | "
              f"{load:.1f} | {plan:.2f} | {fwd:,.0f} | {fwd_own:,.0f} | {total:,.0f} | {fwd / total:.1%} | "
              f"{total / 3600:,.1f} |")
