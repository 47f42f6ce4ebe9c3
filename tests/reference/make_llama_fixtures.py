#!/usr/bin/python3
"""Independent PyTorch reference for the Llama family (llama, mistral, qwen2, gemma, gemma2).

Writes, like make_model_fixtures.py (whose safetensors writer it reuses),
  tests/fixtures/models/<variant>/                 a tiny checkpoint in Hugging Face's format
      config.json                                  HF key names (LlamaConfig, MistralConfig, ...)
      model.safetensors                            or model-0000i-of-00002.safetensors + index.json
      vocab.json, merges.txt                       the 512-token GPT-2 vocabulary of gpt2_f32
  tests/fixtures/models/<variant>.activations.safetensors
      "tokens" (I32 [B, T]) and every hook point (F32 [B, T, width]) named as neurolens names them.

The forward is written from the HF modeling files with plain torch ops (transformers is not
needed): modeling_llama.py (RMSNorm in fp32 as w * x * rsqrt(mean(x^2) + eps); rotary in the
rotate_half convention, inv_freq = 1 / theta^(arange(0, dh, 2) / dh) in fp32, linear scaling
inv_freq / factor, llama3 banded scaling; q @ k^T * head_dim^-0.5 with the causal mask filled
with finfo.min, softmax in fp32; repeat_kv for grouped-query attention; down(act(gate) * up)),
modeling_mistral.py / masking_utils.py (sliding window: key > query - sliding_window),
modeling_qwen2.py (q/k/v biases), modeling_gemma.py (embedding * sqrt(hidden_size), RMSNorm
(1 + w), GeGLU with gelu_pytorch_tanh, head_dim from config) and modeling_gemma2.py (sandwich
norms, query_pre_attn_scalar^-0.5, scores = tanh(scores / cap) * cap before the mask, even
layers sliding). Hooks follow TransformerLens: hook_q/k/v before rotary, hook_rot_q/k after,
hook_attn_out / hook_mlp_out after Gemma 2's post norms. F16/BF16 variants round the weights to
that dtype, store them in it and compute in fp32 from the rounded values.

Regenerate (needs Debian python3-torch and numpy; CI does not):
  /usr/bin/python3 tests/reference/make_llama_fixtures.py
"""
import json
import math
import os
import shutil
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import TORCH_DTYPE_NAMES, write_variant  # noqa: E402
from make_model_fixtures import BATCH, OUT, SEQ  # noqa: E402

VOCAB_FROM = os.path.join(OUT, "gpt2_f32")
N_VOCAB, N_POSITIONS = 512, 128


# ---------------------------------------------------------------------------------------------
# The reference forward (fp32), returning every hook point.
def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def act_fn(name):
    if name in ("silu", "swish"):
        return F.silu
    if name in ("gelu_pytorch_tanh", "gelu_new"):
        return gelu_tanh
    if name == "gelu":
        return F.gelu
    raise ValueError(name)


def rms_norm(x, w, eps, offset):
    xf = x.float()
    h = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return h * (offset + w.float())


def inv_frequencies(dh, theta, scaling):
    inv = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    if scaling is None:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv / scaling["factor"]
    assert kind == "llama3"
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, inv_l)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(c, p, ids):
    """c: the variant's settings; p: fp32 parameters under HF names."""
    B, T = ids.shape
    L, H, KV, dh, D = c["L"], c["H"], c["KV"], c["dh"], c["D"]
    eps, off = c["eps"], c["norm_offset"]
    act = act_fn(c["act"])
    acts = {}
    h = p["model.embed_tokens.weight"][ids]
    if c["embed_scale"]:
        h = h * torch.tensor(D ** 0.5, dtype=h.dtype)
    acts["hook_embed"] = h
    acts["hidden_states.0"] = h
    inv = inv_frequencies(dh, c["theta"], c["rope_scaling"])
    pos = torch.arange(T)
    freqs = (inv[None, :, None].float() @ pos[None, None, :].float()).transpose(1, 2)  # [1, T, dh/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [1, 1, T, dh]
    qi, ki = torch.arange(T)[:, None], torch.arange(T)[None, :]
    causal = ki <= qi
    scaling = c["attn_scale"]
    for l in range(L):
        b = f"model.layers.{l}."
        name = f"blocks.{l}."
        acts[name + "hook_resid_pre"] = h
        x = rms_norm(h, p[b + "input_layernorm.weight"], eps, off)

        def lin(key, inp):
            return F.linear(inp, p[key + ".weight"], p.get(key + ".bias"))

        q = lin(b + "self_attn.q_proj", x)
        k = lin(b + "self_attn.k_proj", x)
        v = lin(b + "self_attn.v_proj", x)
        acts[name + "attn.hook_q"] = q
        acts[name + "attn.hook_k"] = k
        acts[name + "attn.hook_v"] = v
        qh = q.view(B, T, H, dh).transpose(1, 2)
        kh = k.view(B, T, KV, dh).transpose(1, 2)
        vh = v.view(B, T, KV, dh).transpose(1, 2)
        qh = qh * cos + rotate_half(qh) * sin
        kh = kh * cos + rotate_half(kh) * sin
        acts[name + "attn.hook_rot_q"] = qh.transpose(1, 2).reshape(B, T, H * dh)
        acts[name + "attn.hook_rot_k"] = kh.transpose(1, 2).reshape(B, T, KV * dh)
        rep = H // KV
        kr = kh[:, :, None].expand(B, KV, rep, T, dh).reshape(B, H, T, dh)  # repeat_kv
        vr = vh[:, :, None].expand(B, KV, rep, T, dh).reshape(B, H, T, dh)
        w = torch.matmul(qh, kr.transpose(2, 3)) * scaling
        if c["softcap"]:
            w = w / c["softcap"]
            w = torch.tanh(w)
            w = w * c["softcap"]
            c["capped"] = c.get("capped", []) + [(w.abs() > 0.5 * c["softcap"]).float().mean().item()]
        allowed = causal
        if c["sliding"][l]:
            allowed = causal & (ki > qi - c["window"])
        mask = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)
        w = torch.softmax((w + mask).float(), dim=-1)
        z = torch.matmul(w, vr).transpose(1, 2).reshape(B, T, H * dh)
        acts[name + "attn.hook_z"] = z
        attn_out = lin(b + "self_attn.o_proj", z)
        if c["sandwich"]:
            attn_out = rms_norm(attn_out, p[b + "post_attention_layernorm.weight"], eps, off)
        acts[name + "hook_attn_out"] = attn_out
        h = h + attn_out
        acts[name + "hook_resid_mid"] = h
        pre_mlp = "pre_feedforward_layernorm" if c["sandwich"] else "post_attention_layernorm"
        x = rms_norm(h, p[b + pre_mlp + ".weight"], eps, off)
        gate = lin(b + "mlp.gate_proj", x)
        up = lin(b + "mlp.up_proj", x)
        post = act(gate) * up
        mlp_out = lin(b + "mlp.down_proj", post)
        if c["sandwich"]:
            mlp_out = rms_norm(mlp_out, p[b + "post_feedforward_layernorm.weight"], eps, off)
        acts[name + "mlp.hook_pre"] = gate
        acts[name + "mlp.hook_pre_linear"] = up
        acts[name + "mlp.hook_post"] = post
        acts[name + "hook_mlp_out"] = mlp_out
        h = h + mlp_out
        acts[name + "hook_resid_post"] = h
        if l + 1 < L:
            acts[f"hidden_states.{l + 1}"] = h
    final = rms_norm(h, p["model.norm.weight"], eps, off)
    acts["ln_final.hook_normalized"] = final
    acts[f"hidden_states.{L}"] = final
    return acts


# ---------------------------------------------------------------------------------------------
# Parameters
def make_params(c, gen):
    D, Fw, L, H, KV, dh = c["D"], c["F"], c["L"], c["H"], c["KV"], c["dh"]

    def randn(*shape, std):
        return torch.randn(*shape, generator=gen) * std

    # Gemma's norms are (1 + w) with w near 0; Llama's w near 1.
    norm_mean = 0.0 if c["norm_offset"] else 1.0
    qk_std = c.get("qk_std", 0.5)
    p = {"model.embed_tokens.weight": randn(N_VOCAB, D, std=0.5)}
    for l in range(L):
        b = f"model.layers.{l}."
        a = b + "self_attn."
        m = b + "mlp."
        norms = ["input_layernorm", "post_attention_layernorm"]
        if c["sandwich"]:
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        for n in norms:
            p[b + n + ".weight"] = norm_mean + randn(D, std=0.2)
        p[a + "q_proj.weight"] = randn(H * dh, D, std=qk_std / math.sqrt(D))
        p[a + "k_proj.weight"] = randn(KV * dh, D, std=qk_std / math.sqrt(D))
        p[a + "v_proj.weight"] = randn(KV * dh, D, std=1.0 / math.sqrt(D))
        p[a + "o_proj.weight"] = randn(D, H * dh, std=1.0 / math.sqrt(H * dh))
        if c["qkv_bias"]:
            p[a + "q_proj.bias"] = randn(H * dh, std=0.2)
            p[a + "k_proj.bias"] = randn(KV * dh, std=0.2)
            p[a + "v_proj.bias"] = randn(KV * dh, std=0.2)
        if c["out_bias"]:
            p[a + "o_proj.bias"] = randn(D, std=0.1)
        p[m + "gate_proj.weight"] = randn(Fw, D, std=1.5 / math.sqrt(D))
        p[m + "up_proj.weight"] = randn(Fw, D, std=1.0 / math.sqrt(D))
        p[m + "down_proj.weight"] = randn(D, Fw, std=1.0 / math.sqrt(Fw))
        if c["mlp_bias"]:
            p[m + "gate_proj.bias"] = randn(Fw, std=0.3)
            p[m + "up_proj.bias"] = randn(Fw, std=0.3)
            p[m + "down_proj.bias"] = randn(D, std=0.1)
    p["model.norm.weight"] = norm_mean + randn(D, std=0.2)
    if not c["tied"]:
        p["lm_head.weight"] = randn(N_VOCAB, D, std=1.0 / math.sqrt(D))
    return p


def config_json(c, dtype_name):
    base = {
        "bos_token_id": N_VOCAB - 1, "eos_token_id": N_VOCAB - 1, "hidden_size": c["D"],
        "initializer_range": 0.02, "intermediate_size": c["F"],
        "max_position_embeddings": N_POSITIONS, "model_type": c["arch"],
        "num_attention_heads": c["H"], "num_hidden_layers": c["L"], "num_key_value_heads": c["KV"],
        "rms_norm_eps": c["eps"], "rope_theta": c["theta"], "tie_word_embeddings": c["tied"],
        "torch_dtype": dtype_name, "transformers_version": "4.44.2", "use_cache": True,
        "vocab_size": N_VOCAB, "attention_dropout": 0.0,
    }
    arch = c["arch"]
    if c.get("head_dim_key"):
        base["head_dim"] = c["dh"]
    if arch == "llama":
        base.update({"architectures": ["LlamaForCausalLM"], "hidden_act": "silu",
                     "attention_bias": c["qkv_bias"], "mlp_bias": c["mlp_bias"],
                     "pretraining_tp": 1, "rope_scaling": c["rope_scaling"]})
    elif arch == "mistral":
        base.update({"architectures": ["MistralForCausalLM"], "hidden_act": "silu",
                     "sliding_window": c["window"]})
    elif arch == "qwen2":
        base.update({"architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu",
                     "max_window_layers": c["L"], "sliding_window": N_POSITIONS,
                     "use_sliding_window": False, "rope_scaling": None})
    elif arch == "gemma":
        base.update({"architectures": ["GemmaForCausalLM"], "hidden_act": "gelu",
                     "hidden_activation": "gelu_pytorch_tanh", "attention_bias": False,
                     "pad_token_id": 0})
    elif arch == "gemma2":
        base.update({"architectures": ["Gemma2ForCausalLM"], "hidden_act": "gelu_pytorch_tanh",
                     "hidden_activation": "gelu_pytorch_tanh", "attention_bias": False,
                     "query_pre_attn_scalar": c["query_pre_attn_scalar"],
                     "attn_logit_softcapping": c["softcap"], "final_logit_softcapping": 30.0,
                     "sliding_window": c["window"], "cache_implementation": "hybrid",
                     "pad_token_id": 0})
    return base


def variant(arch, **kw):
    c = {"arch": arch, "D": 32, "H": 4, "KV": 4, "dh": 8, "F": 64, "L": 3, "eps": 1e-5,
         "theta": 10000.0, "rope_scaling": None, "qkv_bias": False, "out_bias": False,
         "mlp_bias": False, "tied": False, "norm_offset": 0.0, "sandwich": False,
         "act": "silu", "embed_scale": False, "softcap": 0.0, "window": 0,
         "head_dim_key": False, "extra": []}
    c.update(kw)
    c["sliding"] = c.get("sliding", [False] * c["L"])
    c["attn_scale"] = c.get("attn_scale", c["dh"] ** -0.5)
    return c


VARIANTS = [
    # name, settings, dtype, sharded
    ("llama_gqa_f32",
     variant("llama", KV=2, rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                          "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                          "original_max_position_embeddings": 64}),
     torch.float32, False),
    ("llama_tied_bf16_sharded",
     variant("llama", KV=2, dh=12, head_dim_key=True, tied=True, qkv_bias=True, out_bias=True,
             mlp_bias=True, theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0},
             extra=["inv_freq"]),
     torch.bfloat16, True),
    ("mistral_f32",
     variant("mistral", KV=2, window=7, sliding=[True] * 3, eps=1e-6, theta=1000000.0),
     torch.float32, False),
    ("qwen2_f16",
     variant("qwen2", KV=2, qkv_bias=True, eps=1e-6, tied=True, theta=1000000.0,
             extra=["lm_head"]),
     torch.float16, False),
    ("gemma_f32",
     variant("gemma", dh=16, head_dim_key=True, tied=True, norm_offset=1.0,
             act="gelu_pytorch_tanh", embed_scale=True, eps=1e-6),
     torch.float32, False),
    ("gemma2_f32",
     variant("gemma2", L=4, KV=2, dh=16, head_dim_key=True, tied=True, norm_offset=1.0,
             act="gelu_pytorch_tanh", embed_scale=True, eps=1e-6, sandwich=True,
             query_pre_attn_scalar=24, attn_scale=24 ** -0.5, softcap=50.0, qk_std=5.0,
             window=6, sliding=[True, False, True, False]),
     torch.float32, False),
]


def checkpoint_tensors(c, p, dtype):
    out = [(k, v.to(dtype)) for k, v in p.items()]
    if "inv_freq" in c["extra"]:  # buffers older HF versions saved
        inv = inv_frequencies(c["dh"], c["theta"], None)
        for l in range(c["L"]):
            out.append((f"model.layers.{l}.self_attn.rotary_emb.inv_freq", inv.to(dtype)))
    if "lm_head" in c["extra"]:  # a tied lm_head saved anyway
        out.append(("lm_head.weight", p["model.embed_tokens.weight"].to(dtype)))
    out.sort(key=lambda kv: kv[0])
    return out


def copy_vocab(d):
    for fname in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(VOCAB_FROM, fname), os.path.join(d, fname))


def main():
    torch.set_num_threads(1)
    total = 0
    for vi, (name, c, dtype, sharded) in enumerate(VARIANTS):
        gen = torch.Generator().manual_seed(4321 + vi)
        p = make_params(c, gen)
        p = {k: v.to(dtype).to(torch.float32) for k, v in p.items()}  # rounded to the ckpt dtype
        ids = torch.randint(0, N_VOCAB, (BATCH, SEQ), generator=gen)
        ids[0, 0], ids[1, -1] = 0, N_VOCAB - 1
        with torch.no_grad():
            acts = forward(c, p, ids)

        size = write_variant(OUT, name, config_json(c, TORCH_DTYPE_NAMES[dtype]), copy_vocab,
                             checkpoint_tensors(c, p, dtype), sharded, ids, acts,
                             "tests/reference/make_llama_fixtures.py")
        total += size
        capped = ""
        if c.get("capped"):
            capped = f", scores past cap/2: {sum(c['capped']) / len(c['capped']):.0%}"
        print(f"{name}: {len(acts)} hook points, {size / 1024:.0f} KiB{capped}")
    print(f"total {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
