// ResumeState — the partial statistics of an interrupted run, saved so `--resume` continues it
// (job keys `checkpoint`, `checkpoint_every`; not model/'s checkpoints, which are HF weights).
// Owns: the on-disk state of a job: a directory (job key `checkpoint`, default <output>.ckpt)
// holding one file per rank per generation and a manifest naming the latest complete generation.
// Every file carries the job's hash, the rank count, the rank, the batches done and a checksum; a
// file that does not match (another job, other rank count, truncated, corrupt) is refused with a
// clear error, never silently used. Writes are atomic (temp + fsync + rename) and a generation
// becomes current only when every rank has written it.
// Example:
//   ResumeState ckpt(job, comm);
//   ckpt.save(batches_done, stats.save_state());       // collective
//   std::vector<double> state = ckpt.load(batches);     // collective, with --resume
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "runner/engine/job.hpp"
#include "runner/parallel/mpi.hpp"

namespace neurolens::runner {

class ResumeState {
 public:
  ResumeState(const Job& job, const Comm& comm);
  // Collective: every rank saves its state for generation `batches_done`.
  void save(int64_t batches_done, const std::vector<double>& state);
  // Collective: the state this rank saved in the latest complete generation. Throws
  // (collectively) neurolens::Error when there is none or it does not match this job.
  std::vector<double> load(int64_t& batches_done);
  // Collective: removes the checkpoint directory (after the results file is committed).
  void remove();

  const std::filesystem::path& directory() const { return dir_; }

 private:
  std::filesystem::path rank_file(int64_t generation, int rank) const;
  const Comm& comm_;
  std::filesystem::path dir_;
  uint64_t job_hash_;
};

uint64_t fnv1a(const void* data, size_t bytes, uint64_t seed = 1469598103934665603ULL);

}  // namespace neurolens::runner
