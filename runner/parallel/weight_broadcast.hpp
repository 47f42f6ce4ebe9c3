// Broadcast weight loading — each checkpoint file read once for the whole job, not once per node.
// Owns: reading a safetensors file on rank 0, MPI_Bcast of its bytes to one leader rank per node
// (in chunks of at most 1 GiB), and sharing them with the node's other ranks through one POSIX
// shared-memory segment per file (/dev/shm, unlinked as soon as every rank of the node has mapped
// it, so nothing is left behind even if the job is killed later). On N nodes the shared file
// system serves 1 read instead of N (docs/scaling.md: the weight load is what limits a 1000-node
// job). Every step is collective: a failure on any rank (file unreadable, /dev/shm full) ends
// the load on every rank with that rank's one-line message.
// Example:
//   model::Model m = model::load_model(dir, broadcast_weight_reader(world));
#pragma once

#include "model/load/checkpoint.hpp"
#include "runner/parallel/mpi.hpp"

namespace neurolens::runner {

// A reader for model::load_model that must be called by every rank of `comm` with the same files
// in the same order (load_model does). The returned bytes stay valid while the Model lives.
model::WeightFileReader broadcast_weight_reader(const Comm& comm);

}  // namespace neurolens::runner
