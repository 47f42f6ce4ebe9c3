#!/usr/bin/env bash
# The README's demo: the contrast study (negation vs affirmation) on the embedded demo default
# model, over the Brown corpus, on 2 MPI ranks. The demo model carries planted neurons
# (planted.json); the last lines show where the planted negation neuron ranks.
# usage: jobs/demo/run_demo.sh NEUROLENS_BINARY
set -euo pipefail
bin=$1
ranks=${NEUROLENS_DEMO_RANKS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mpirun --oversubscribe -n "$ranks" "$bin" run jobs/demo/contrast.ini --overwrite
