#!/usr/bin/python3
"""PyTorch side of bench/forward_bench.cpp: the straightforward HF-style GPT-2 / GPT-Neo /
Llama / GPT-NeoX forward (plain torch ops; no transformers).

Reads the same safetensors checkpoint (model.safetensors or shards + index), builds the model
the way HF modeling_gpt2.py / modeling_gpt_neo.py do (GPT-2: Conv1D = addmm, scores scaled by
1/sqrt(dh); GPT-Neo: nn.Linear q/k/v without bias, no scaling, local layers masked to
key > query - window_size; both: full T x T scores masked with finfo.min, softmax,
NewGELUActivation tanh formula; Llama: RMSNorm, rotary rotate_half, GQA via repeat_interleave,
additive causal mask, SwiGLU; GPT-NeoX: fused query_key_value viewed per head, partial rotary,
parallel residual, exact-erf GELU), registers forward hooks on every mlp.c_fc / mlp.gate_proj /
mlp.dense_h_to_4h that copy its output out (as blocks.*.mlp.hook_pre), and times eval-mode
no_grad forwards of all blocks (no final norm / LM head). Prints "torch forward: <tokens/s> tokens/s". bench/studies_torch.py imports load_model()
from here (and adds ln_f + the LM head).
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/forward_torch.py --dir /tmp/ckpt --batch 16 --seq 512
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[8 + n + b:8 + n + end]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype=np.float32)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        out[name] = torch.from_numpy(a.copy()).view(*e["shape"]) if e["shape"] else torch.tensor(a[0])
    return out


def read_checkpoint(d):
    index = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) \
        else ["model.safetensors"]
    p = {}
    for f in files:
        p.update(read_safetensors(os.path.join(d, f)))
    return {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in p.items()}


class Conv1D(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.weight, self.bias = nn.Parameter(w), nn.Parameter(b)
        self.nf = w.shape[1]

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class NewGELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, p, l, cfg):
        super().__init__()
        g = lambda k: p[f"h.{l}.{k}"]
        d, eps = cfg["n_embd"], cfg.get("layer_norm_epsilon", 1e-5)
        self.n_head, self.d = cfg["n_head"], d
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.ln_1.weight.data, self.ln_1.bias.data = g("ln_1.weight"), g("ln_1.bias")
        self.c_attn = Conv1D(g("attn.c_attn.weight"), g("attn.c_attn.bias"))
        self.c_proj = Conv1D(g("attn.c_proj.weight"), g("attn.c_proj.bias"))
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.ln_2.weight.data, self.ln_2.bias.data = g("ln_2.weight"), g("ln_2.bias")
        self.c_fc = Conv1D(g("mlp.c_fc.weight"), g("mlp.c_fc.bias"))
        self.act = NewGELU()
        self.mlp_proj = Conv1D(g("mlp.c_proj.weight"), g("mlp.c_proj.bias"))
        n = cfg["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n))

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.n_head, -1).permute(0, 2, 1, 3)

    def forward(self, h):
        x = self.ln_1(h)
        q, k, v = self.c_attn(x).split(self.d, dim=2)
        q, k, v = self.split(q), self.split(k), self.split(v)
        w = torch.matmul(q, k.transpose(-1, -2))
        w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
        T = q.size(-2)
        mask = self.bias[:, :, :T, :T]
        w = torch.where(mask, w, torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        w = nn.functional.softmax(w, dim=-1)
        a = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size(0), a.size(1), self.d)
        h = h + self.c_proj(a)
        return h + self.mlp_proj(self.act(self.c_fc(self.ln_2(h))))


class Linear(nn.Module):
    """nn.Linear as HF GPT-Neo uses it: weight [out, in], optional bias."""

    def __init__(self, w, b=None):
        super().__init__()
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(b) if b is not None else None

    def forward(self, x):
        return nn.functional.linear(x, self.weight, self.bias)


class NeoBlock(nn.Module):
    def __init__(self, p, l, cfg, kind):
        super().__init__()
        g = lambda k: p[f"h.{l}.{k}"]
        d, eps = cfg["hidden_size"], cfg.get("layer_norm_epsilon", 1e-5)
        self.n_head, self.d = cfg["num_heads"], d
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.ln_1.weight.data, self.ln_1.bias.data = g("ln_1.weight"), g("ln_1.bias")
        a = "attn.attention."
        self.q_proj = Linear(g(a + "q_proj.weight"))
        self.k_proj = Linear(g(a + "k_proj.weight"))
        self.v_proj = Linear(g(a + "v_proj.weight"))
        self.out_proj = Linear(g(a + "out_proj.weight"), g(a + "out_proj.bias"))
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.ln_2.weight.data, self.ln_2.bias.data = g("ln_2.weight"), g("ln_2.bias")
        self.c_fc = Linear(g("mlp.c_fc.weight"), g("mlp.c_fc.bias"))
        self.act = NewGELU()
        self.mlp_proj = Linear(g("mlp.c_proj.weight"), g("mlp.c_proj.bias"))
        n = cfg["max_position_embeddings"]
        bias = torch.tril(torch.ones((n, n), dtype=torch.bool))
        if kind == "local":
            bias = torch.bitwise_xor(bias, torch.tril(bias, -cfg["window_size"]))
        self.register_buffer("bias", bias.view(1, 1, n, n))

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.n_head, -1).permute(0, 2, 1, 3)

    def forward(self, h):
        x = self.ln_1(h)
        q, k, v = self.split(self.q_proj(x)), self.split(self.k_proj(x)), self.split(self.v_proj(x))
        w = torch.matmul(q, k.transpose(-1, -2))  # GPT-Neo: no scaling
        T = q.size(-2)
        mask = self.bias[:, :, :T, :T]
        w = torch.where(mask, w, torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        w = nn.functional.softmax(w, dim=-1)
        a = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size(0), a.size(1), self.d)
        h = h + self.out_proj(a)
        return h + self.mlp_proj(self.act(self.c_fc(self.ln_2(h))))


def rotate_half(x):
    """HF rotate_half: [-x2, x1] over the two halves of the last dimension."""
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(rotary_dim, base, seq):
    """HF rotary embedding (default rope_type): cos / sin [T, rotary_dim], emb = cat(freqs, freqs)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, rotary_dim, 2, dtype=torch.int64).float() / rotary_dim))
    freqs = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def causal_mask(seq):
    """Additive causal mask [1, 1, T, T]: 0 on and below the diagonal, finfo.min above."""
    m = torch.full((seq, seq), torch.finfo(torch.float32).min)
    return torch.triu(m, diagonal=1)[None, None]


class RMSNorm(nn.Module):
    """HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) in fp32, times weight."""

    def __init__(self, w, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(w), eps

    def forward(self, x):
        v = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(v + self.eps))


class LlamaMLP(nn.Module):
    def __init__(self, g):
        super().__init__()
        self.gate_proj = Linear(g("mlp.gate_proj.weight"))
        self.up_proj = Linear(g("mlp.up_proj.weight"))
        self.down_proj = Linear(g("mlp.down_proj.weight"))

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    """HF modeling_llama.py LlamaDecoderLayer (eager attention): RMSNorm, q / k / v nn.Linear,
    rotary (rotate_half) on q and k, grouped-query attention (k / v heads repeated with
    repeat_interleave, as repeat_kv), scores scaled by head_dim^-0.5 + additive causal mask,
    softmax in fp32, o_proj; RMSNorm, down(silu(gate) * up)."""

    def __init__(self, p, l, cfg):
        super().__init__()
        g = lambda k: p[f"model.layers.{l}.{k}"]
        d, eps = cfg["hidden_size"], cfg.get("rms_norm_eps", 1e-6)
        self.n_head = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads", self.n_head)
        self.dh = cfg.get("head_dim", d // self.n_head)
        self.input_layernorm = RMSNorm(g("input_layernorm.weight"), eps)
        self.q_proj = Linear(g("self_attn.q_proj.weight"))
        self.k_proj = Linear(g("self_attn.k_proj.weight"))
        self.v_proj = Linear(g("self_attn.v_proj.weight"))
        self.o_proj = Linear(g("self_attn.o_proj.weight"))
        self.post_attention_layernorm = RMSNorm(g("post_attention_layernorm.weight"), eps)
        self.mlp = LlamaMLP(g)

    def forward(self, h, cos, sin, mask):
        B, T, _ = h.shape
        x = self.input_layernorm(h)
        q = self.q_proj(x).view(B, T, self.n_head, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv, self.dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.n_head // self.n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        w = torch.matmul(q, k.transpose(2, 3)) * self.dh ** -0.5 + mask
        w = nn.functional.softmax(w, dim=-1, dtype=torch.float32)
        a = torch.matmul(w, v).transpose(1, 2).reshape(B, T, -1)
        h = h + self.o_proj(a)
        return h + self.mlp(self.post_attention_layernorm(h))


class NeoxMLP(nn.Module):
    def __init__(self, g):
        super().__init__()
        self.dense_h_to_4h = Linear(g("mlp.dense_h_to_4h.weight"), g("mlp.dense_h_to_4h.bias"))
        self.dense_4h_to_h = Linear(g("mlp.dense_4h_to_h.weight"), g("mlp.dense_4h_to_h.bias"))

    def forward(self, x):
        return self.dense_4h_to_h(nn.functional.gelu(self.dense_h_to_4h(x)))  # exact erf gelu


class NeoxBlock(nn.Module):
    """HF modeling_gpt_neox.py GPTNeoXLayer (eager attention): LayerNorm, fused query_key_value
    viewed per head [B, T, H, 3 dh] and split into q | k | v, rotary (rotate_half) on the first
    rotary_ndims = int(dh * rotary_pct) features of q and k, scores scaled by dh^-0.5 + causal
    mask, softmax, dense; parallel residual x + attn(ln_1(x)) + mlp(ln_2(x)) or sequential."""

    def __init__(self, p, l, cfg):
        super().__init__()
        g = lambda k: p[f"gpt_neox.layers.{l}.{k}"]
        d, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
        self.n_head = cfg["num_attention_heads"]
        self.dh = d // self.n_head
        self.rd = int(self.dh * cfg.get("rotary_pct", 0.25))
        self.parallel = cfg.get("use_parallel_residual", True)
        self.input_layernorm = nn.LayerNorm(d, eps=eps)
        self.input_layernorm.weight.data = g("input_layernorm.weight")
        self.input_layernorm.bias.data = g("input_layernorm.bias")
        self.post_attention_layernorm = nn.LayerNorm(d, eps=eps)
        self.post_attention_layernorm.weight.data = g("post_attention_layernorm.weight")
        self.post_attention_layernorm.bias.data = g("post_attention_layernorm.bias")
        a = "attention."
        self.query_key_value = Linear(g(a + "query_key_value.weight"), g(a + "query_key_value.bias"))
        self.dense = Linear(g(a + "dense.weight"), g(a + "dense.bias"))
        self.mlp = NeoxMLP(g)

    def attention(self, x, cos, sin, mask):
        B, T, _ = x.shape
        qkv = self.query_key_value(x).view(B, T, self.n_head, 3 * self.dh).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        rd = self.rd
        q_rot, q_pass = q[..., :rd], q[..., rd:]
        k_rot, k_pass = k[..., :rd], k[..., rd:]
        q = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, q_pass), dim=-1)
        k = torch.cat((k_rot * cos + rotate_half(k_rot) * sin, k_pass), dim=-1)
        w = torch.matmul(q, k.transpose(2, 3)) * self.dh ** -0.5 + mask
        w = nn.functional.softmax(w, dim=-1, dtype=torch.float32)
        a = torch.matmul(w, v).transpose(1, 2).reshape(B, T, -1)
        return self.dense(a)

    def forward(self, h, cos, sin, mask):
        attn = self.attention(self.input_layernorm(h), cos, sin, mask)
        if self.parallel:
            return h + attn + self.mlp(self.post_attention_layernorm(h))
        h = h + attn
        return h + self.mlp(self.post_attention_layernorm(h))


def load_model(d):
    """(blocks, params, cfg): HF-style blocks in eval mode and the raw parameter dict."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    p = read_checkpoint(d)
    t = cfg.get("model_type")
    if t == "gpt_neo":
        kinds = []
        for pattern, repeat in cfg["attention_types"]:
            kinds += list(pattern) * repeat
        blocks = [NeoBlock(p, l, cfg, kinds[l]) for l in range(cfg["num_layers"])]
    elif t == "llama":
        blocks = [LlamaBlock(p, l, cfg) for l in range(cfg["num_hidden_layers"])]
    elif t == "gpt_neox":
        blocks = [NeoxBlock(p, l, cfg) for l in range(cfg["num_hidden_layers"])]
    else:
        blocks = [Block(p, l, cfg) for l in range(cfg["n_layer"])]
    return nn.ModuleList(blocks).eval(), p, cfg


def hook_module(b):
    """The module whose output is mlp.hook_pre: c_fc, gate_proj or dense_h_to_4h."""
    if isinstance(b, LlamaBlock):
        return b.mlp.gate_proj
    if isinstance(b, NeoxBlock):
        return b.mlp.dense_h_to_4h
    return b.c_fc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    blocks, p, cfg = load_model(a.dir)
    t = cfg.get("model_type")
    rotary = t in ("llama", "gpt_neox")
    if t == "llama":
        wte, wpe = p["model.embed_tokens.weight"], None
        rd, base = blocks[0].dh, cfg.get("rope_theta", 10000.0)
    elif t == "gpt_neox":
        wte, wpe = p["gpt_neox.embed_in.weight"], None
        rd, base = blocks[0].rd, cfg.get("rotary_emb_base", 10000)
    else:
        wte, wpe = p["wte.weight"], p["wpe.weight"]
    captured = {}
    for l, b in enumerate(blocks):
        hook_module(b).register_forward_hook(
            lambda m, i, o, l=l: captured.__setitem__(f"blocks.{l}.mlp.hook_pre", o.detach().clone()))
    gen = torch.Generator().manual_seed(11)
    ids = torch.randint(0, wte.shape[0], (a.batch, a.seq), generator=gen)
    D, Fm = wte.shape[1], hook_module(blocks[0]).weight.numel() // wte.shape[1]
    xa, wa, ba = torch.randn(a.batch * a.seq, D), torch.randn(D, Fm), torch.randn(Fm)

    def cfc_rate():  # the c_fc-shaped GEMM alone, best of 2: this process's CPU share right now
        best = 1e30
        for _ in range(2):
            t0 = time.perf_counter()
            torch.addmm(ba, xa, wa)
            best = min(best, time.perf_counter() - t0)
        return 2.0 * a.batch * a.seq * D * Fm / best * 1e-9

    ref = cfc_rate()
    times = []
    with torch.no_grad():
        for r in range(a.reps + 1):
            captured.clear()
            t0 = time.perf_counter()
            if rotary:  # the model computes cos / sin and the mask once, for every layer
                h = wte[ids]
                cos, sin = rope_cos_sin(rd, base, a.seq)
                mask = causal_mask(a.seq)
                for b in blocks:
                    h = b(h, cos, sin, mask)
            else:
                h = wte[ids] + wpe[torch.arange(a.seq)][None]
                for b in blocks:
                    h = b(h)
            if r > 0:
                times.append(time.perf_counter() - t0)
    ref = max(ref, cfc_rate())
    assert len(captured) == len(blocks)
    times.sort()
    n = a.batch * a.seq
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, best of {a.reps}: "
          f"{times[0]:.2f} s/run")
    print(f"torch forward: {n / times[0]:.0f} tokens/s")
    print(f"torch c_fc sgemm reference: {ref:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
