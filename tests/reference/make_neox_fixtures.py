#!/usr/bin/python3
"""Independent PyTorch reference for the GPT-NeoX (Pythia) forward pass; writes
tests/fixtures/models/neox_*.

Same layout as make_model_fixtures.py (whose safetensors writer and vocabulary it reuses):
  tests/fixtures/models/<variant>/                 a tiny checkpoint in exactly HF's format
      config.json                                  GPTNeoXConfig key names
      model.safetensors                            or model-0000i-of-00002.safetensors + index.json
      vocab.json, merges.txt                       the 512-id truncated GPT-2 vocabulary
  tests/fixtures/models/<variant>.activations.safetensors
      "tokens" (I32 [B, T]) and every hook point (F32 [B, T, width]) under its neurolens name.

The model follows HF's modeling_gpt_neox.py with plain torch ops (transformers is not needed):
nn.Linear [out, in] weights; query_key_value [3D, D] whose rows are per head [H, 3, dh] (head h:
its q rows, then k, then v); rotary on the first rotary_ndims = int(dh * rotary_pct) features of
each head in the rotate_half convention (inv_freq = 1 / base^(arange(0, rd, 2) / rd), linear
rope_scaling divides the positions by the factor), scores * dh^-0.5, causal mask filled with
finfo.min, softmax in fp32; dense; MLP dense_h_to_4h -> act (exact erf "gelu") -> dense_4h_to_h;
parallel residual x + attn(ln1(x)) + mlp(ln2(x)) or sequential (h = x + attn(ln1(x));
h + mlp(ln2(h))); final_layer_norm; untied embed_out. Hooks as TransformerLens names them:
hook_q / k / v before rotary, hook_rot_q / k after it, no hook_resid_mid in parallel blocks, no
hook_pos_embed.

Regenerate (needs Debian python3-torch and numpy; CI does not):
  /usr/bin/python3 tests/reference/make_neox_fixtures.py
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
import make_model_fixtures as mmf  # noqa: E402  (write_safetensors, write_vocab, BATCH, SEQ)

OUT = mmf.OUT


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(rd, base, seq, scaling):
    inv_freq = 1.0 / (base ** (torch.arange(0, rd, 2, dtype=torch.int64).float() / rd))
    t = torch.arange(seq, dtype=torch.int64).float()
    if scaling is not None:
        assert scaling["type"] == "linear"
        t = t / scaling["factor"]  # GPTNeoXLinearScalingRotaryEmbedding
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()  # [T, rd]


def act_fn(name):
    if name == "gelu":
        return lambda x: F.gelu(x)  # exact erf
    if name in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh"):
        return mmf.gelu_new
    raise ValueError(name)


def forward(cfg, p, ids):
    """p: fp32 parameters under HF names. Returns every hook point."""
    B, T = ids.shape
    L, H, D = cfg["n_layers"], cfg["n_heads"], cfg["d_model"]
    dh = D // H
    rd = int(dh * cfg["rotary_pct"])
    eps = cfg["eps"]
    act = act_fn(cfg["hidden_act"])
    cos, sin = rope_cos_sin(rd, cfg["rotary_emb_base"], T, cfg["rope_scaling"])
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    acts = {}
    h = p["gpt_neox.embed_in.weight"][ids]
    acts["hook_embed"] = h
    acts["hidden_states.0"] = h

    def heads(x):  # [B, T, D] -> [B, H, T, dh]
        return x.view(B, T, H, dh).permute(0, 2, 1, 3)

    def merge(x):  # [B, H, T, dh] -> [B, T, D]
        return x.permute(0, 2, 1, 3).contiguous().view(B, T, D)

    for l in range(L):
        pre = f"gpt_neox.layers.{l}."
        name = f"blocks.{l}."
        acts[name + "hook_resid_pre"] = h
        x = F.layer_norm(h, (D,), p[pre + "input_layernorm.weight"],
                         p[pre + "input_layernorm.bias"], eps)
        qkv = F.linear(x, p[pre + "attention.query_key_value.weight"],
                       p.get(pre + "attention.query_key_value.bias"))
        qkv = qkv.view(B, T, H, 3 * dh)
        q = qkv[..., :dh].permute(0, 2, 1, 3)
        k = qkv[..., dh:2 * dh].permute(0, 2, 1, 3)
        v = qkv[..., 2 * dh:].permute(0, 2, 1, 3)
        acts[name + "attn.hook_q"] = merge(q)
        acts[name + "attn.hook_k"] = merge(k)
        acts[name + "attn.hook_v"] = merge(v)
        q_rot, q_pass = q[..., :rd], q[..., rd:]
        k_rot, k_pass = k[..., :rd], k[..., rd:]
        q_rot = q_rot * cos + rotate_half(q_rot) * sin
        k_rot = k_rot * cos + rotate_half(k_rot) * sin
        q = torch.cat((q_rot, q_pass), dim=-1)
        k = torch.cat((k_rot, k_pass), dim=-1)
        acts[name + "attn.hook_rot_q"] = merge(q)
        acts[name + "attn.hook_rot_k"] = merge(k)
        scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * (dh ** -0.5)
        scores = torch.where(causal[None, None], scores,
                             torch.tensor(torch.finfo(scores.dtype).min, dtype=scores.dtype))
        w = torch.softmax(scores, dim=-1)
        z = merge(torch.matmul(w, v))
        acts[name + "attn.hook_z"] = z
        attn_out = F.linear(z, p[pre + "attention.dense.weight"],
                            p.get(pre + "attention.dense.bias"))
        acts[name + "hook_attn_out"] = attn_out

        def mlp(y):
            m_pre = F.linear(y, p[pre + "mlp.dense_h_to_4h.weight"], p[pre + "mlp.dense_h_to_4h.bias"])
            m_post = act(m_pre)
            m_out = F.linear(m_post, p[pre + "mlp.dense_4h_to_h.weight"],
                             p[pre + "mlp.dense_4h_to_h.bias"])
            acts[name + "mlp.hook_pre"] = m_pre
            acts[name + "mlp.hook_post"] = m_post
            acts[name + "hook_mlp_out"] = m_out
            return m_out

        ln2 = (p[pre + "post_attention_layernorm.weight"], p[pre + "post_attention_layernorm.bias"])
        if cfg["parallel"]:
            mlp_out = mlp(F.layer_norm(h, (D,), ln2[0], ln2[1], eps))
            h = mlp_out + attn_out + h
        else:
            h = attn_out + h
            acts[name + "hook_resid_mid"] = h
            mlp_out = mlp(F.layer_norm(h, (D,), ln2[0], ln2[1], eps))
            h = mlp_out + h
        acts[name + "hook_resid_post"] = h
        if l + 1 < L:
            acts[f"hidden_states.{l + 1}"] = h
    final = F.layer_norm(h, (D,), p["gpt_neox.final_layer_norm.weight"],
                         p["gpt_neox.final_layer_norm.bias"], eps)
    acts["ln_final.hook_normalized"] = final
    acts[f"hidden_states.{L}"] = final
    return acts


def make_params(cfg, gen):
    D, Fw, V, L, H = cfg["d_model"], cfg["d_mlp"], cfg["n_vocab"], cfg["n_layers"], cfg["n_heads"]

    def randn(*shape, std):
        return torch.randn(*shape, generator=gen) * std

    p = {"gpt_neox.embed_in.weight": randn(V, D, std=0.5)}
    for l in range(L):
        pre = f"gpt_neox.layers.{l}."
        p[pre + "input_layernorm.weight"] = 1.0 + randn(D, std=0.2)
        p[pre + "input_layernorm.bias"] = randn(D, std=0.1)
        p[pre + "post_attention_layernorm.weight"] = 1.0 + randn(D, std=0.2)
        p[pre + "post_attention_layernorm.bias"] = randn(D, std=0.1)
        # Per-head [H, 3, dh] rows; q and k smaller than v so the softmax is not saturated.
        w = randn(H, 3, D // H, D, std=1.0 / math.sqrt(D))
        w[:, 0] *= 0.6
        w[:, 1] *= 0.6
        p[pre + "attention.query_key_value.weight"] = w.reshape(3 * D, D)
        if cfg["attention_bias"]:
            p[pre + "attention.query_key_value.bias"] = randn(3 * D, std=0.1)
        p[pre + "attention.dense.weight"] = randn(D, D, std=1.0 / math.sqrt(D))
        if cfg["attention_bias"]:
            p[pre + "attention.dense.bias"] = randn(D, std=0.1)
        p[pre + "mlp.dense_h_to_4h.weight"] = randn(Fw, D, std=1.5 / math.sqrt(D))
        p[pre + "mlp.dense_h_to_4h.bias"] = randn(Fw, std=0.3)
        p[pre + "mlp.dense_4h_to_h.weight"] = randn(D, Fw, std=1.0 / math.sqrt(Fw))
        p[pre + "mlp.dense_4h_to_h.bias"] = randn(D, std=0.1)
    p["gpt_neox.final_layer_norm.weight"] = 1.0 + randn(D, std=0.2)
    p["gpt_neox.final_layer_norm.bias"] = randn(D, std=0.1)
    p["embed_out.weight"] = randn(V, D, std=0.5)
    return p


def config_json(cfg, dtype_name):
    c = {
        "architectures": ["GPTNeoXForCausalLM"], "attention_bias": cfg["attention_bias"],
        "attention_dropout": 0.0, "bos_token_id": 0, "classifier_dropout": 0.1,
        "eos_token_id": 0, "hidden_act": cfg["hidden_act"], "hidden_dropout": 0.0,
        "hidden_size": cfg["d_model"], "initializer_range": 0.02,
        "intermediate_size": cfg["d_mlp"], "layer_norm_eps": cfg["eps"],
        "max_position_embeddings": cfg["n_positions"], "model_type": "gpt_neox",
        "num_attention_heads": cfg["n_heads"], "num_hidden_layers": cfg["n_layers"],
        "rope_scaling": cfg["rope_scaling"], "rotary_emb_base": cfg["rotary_emb_base"],
        "rotary_pct": cfg["rotary_pct"], "tie_word_embeddings": False,
        "torch_dtype": dtype_name, "transformers_version": "4.40.0", "use_cache": True,
        "use_parallel_residual": cfg["parallel"], "vocab_size": cfg["n_vocab"],
    }
    return c


def base_config():
    # vocab_size 520: padded beyond the tokenizer's 512 ids, as Pythia pads 50277 to 50304.
    return {"n_layers": 3, "d_model": 32, "n_heads": 4, "d_mlp": 128, "n_vocab": 520,
            "n_positions": 64, "eps": 1e-5, "hidden_act": "gelu", "rotary_pct": 0.25,
            "rotary_emb_base": 10000, "rope_scaling": None, "parallel": True,
            "attention_bias": True}


VARIANTS = [
    # name, dtype, sharded, HF's non-persistent buffers in the file, config overrides
    ("neox_parallel_f32", torch.float32, False, False, {}),
    ("neox_sequential_bf16_sharded", torch.bfloat16, True, False,
     {"parallel": False, "rotary_pct": 0.5, "rotary_emb_base": 500, "hidden_act": "gelu_new"}),
    ("neox_f16", torch.float16, False, True,
     {"rotary_pct": 1.0, "rope_scaling": {"type": "linear", "factor": 2.0},
      "attention_bias": False}),
]


def checkpoint_tensors(cfg, p, dtype, buffers):
    out = [(name, t.to(dtype)) for name, t in p.items()]
    if buffers:  # as older transformers saved them (persistent buffers)
        T = cfg["n_positions"]
        dh = cfg["d_model"] // cfg["n_heads"]
        rd = int(dh * cfg["rotary_pct"])
        for l in range(cfg["n_layers"]):
            a = f"gpt_neox.layers.{l}.attention."
            out.append((a + "bias", torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)))
            out.append((a + "masked_bias", torch.tensor(-1e9).to(dtype)))
            inv = 1.0 / (cfg["rotary_emb_base"] ** (torch.arange(0, rd, 2).float() / rd))
            out.append((a + "rotary_emb.inv_freq", inv))
    out.sort(key=lambda kv: kv[0])
    return out


def write_vocab(d):
    if os.path.isdir(mmf.ENCODER_DIR):
        mmf.write_vocab(d, 512)
    else:  # the same files, as make_model_fixtures.py wrote them
        src = os.path.join(OUT, "gpt2_f32")
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(src, f), os.path.join(d, f))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for vi, (name, dtype, sharded, buffers, over) in enumerate(VARIANTS):
        cfg = base_config()
        cfg.update(over)
        gen = torch.Generator().manual_seed(4321 + vi)
        p = make_params(cfg, gen)
        p = {k: v.to(dtype).to(torch.float32) for k, v in p.items()}  # rounded to the ckpt dtype
        ids = torch.randint(0, 512, (mmf.BATCH, mmf.SEQ), generator=gen)
        ids[0, 0], ids[1, -1] = 0, cfg["n_vocab"] - 1  # a padding id beyond the tokenizer's
        with torch.no_grad():
            acts = forward(cfg, p, ids)

        size = write_variant(OUT, name, config_json(cfg, TORCH_DTYPE_NAMES[dtype]), write_vocab,
                             checkpoint_tensors(cfg, p, dtype, buffers), sharded, ids, acts,
                             "tests/reference/make_neox_fixtures.py")
        total += size
        print(f"{name}: {len(acts)} hook points, {size / 1024:.0f} KiB")
    print(f"total {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
