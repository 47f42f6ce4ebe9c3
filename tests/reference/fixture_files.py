"""The files of a forward-pass fixture variant, shared by make_model_fixtures.py,
make_llama_fixtures.py and make_neox_fixtures.py.

Owns: the hand-written safetensors writer (8-byte LE header length, JSON header padded with
spaces to a multiple of 8, raw little-endian bytes; the safetensors package is not needed) and
one variant's files: tests/fixtures/models/<variant>/ (config.json, the vocabulary, one
model.safetensors or two shards + model.safetensors.index.json) and
<variant>.activations.safetensors ("tokens" and every hook point).
Example:
    size = write_variant(OUT, "gpt2_f32", config, write_vocab, tensors, False, ids, acts,
                         "tests/reference/make_model_fixtures.py")
"""
import json
import os
import shutil

import torch

_DTYPE_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int32: "I32", torch.bool: "BOOL"}

# config.json's torch_dtype of a checkpoint dtype.
TORCH_DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16",
                     torch.bfloat16: "bfloat16"}


def _raw_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, tensor) in file order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t in tensors:
        b = _raw_bytes(t)
        header[name] = {"dtype": _DTYPE_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    return offset


def write_variant(out, name, config, write_vocab, tensors, sharded, ids, acts, generator):
    """Writes variant `name` under `out`: config (the config.json dict), write_vocab(dir) (the
    vocabulary files), tensors (list of (name, tensor), in one file or, when sharded, split in
    two halves), and the activations file (ids, then acts in order). Returns the bytes written."""
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_vocab(d)
    if sharded:
        half = len(tensors) // 2
        shards = [tensors[:half], tensors[half:]]
        weight_map, size = {}, 0
        for i, shard in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            size += write_safetensors(os.path.join(d, fname), shard, {"format": "pt"})
            for n, _ in shard:
                weight_map[n] = fname
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": size}, "weight_map": weight_map}, f, indent=2)
    else:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})

    exp = [("tokens", ids.to(torch.int32))]
    for k, v in acts.items():
        exp.append((k, v.contiguous().to(torch.float32)))
    write_safetensors(os.path.join(out, name + ".activations.safetensors"), exp,
                      {"variant": name, "generator": generator})
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
    size += os.path.getsize(os.path.join(out, name + ".activations.safetensors"))
    return size
