// SampleSpill — the rows of save_samples, appended to a scratch file on this rank's disk as the
// batches go, and copied into the results file's /samples datasets at the end, one run at a time.
// Owns: one scratch file per rank (next to the output, removed by its destructor), the runs of
// consecutive global sample ids it holds, and each sample's metadata (label, token, position,
// pair, window). Memory: one run (a round's samples of this rank), never the rank's whole share.
// Legend: K neurons of a site (n_layers x width), N samples of a run.
// Example:
//   SampleSpill spill(output_path, comm.rank(), site_widths);
//   spill.append(first_sample, samples, rows, window_offset);   // per batch
//   for (size_t i = 0; i < spill.n_runs(); ++i) spill.read_run(i, rows, meta);
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <vector>

#include "runner/engine/plan.hpp"

namespace neurolens::runner {

class SampleSpill {
 public:
  struct Run {
    int64_t first = 0;  // global id of the run's first sample
    int64_t count = 0;
    uint64_t offset = 0;  // byte offset in the scratch file
  };
  // Per sample: label, token, position, pair_id, window (global).
  struct Meta {
    int64_t label, token, position, pair_id, window;
  };

  SampleSpill(const std::filesystem::path& output, int rank, std::vector<int64_t> site_neurons);
  ~SampleSpill();
  SampleSpill(const SampleSpill&) = delete;
  SampleSpill& operator=(const SampleSpill&) = delete;

  // rows[s]: [samples.size(), K_s]. Consecutive ids extend the last run.
  void append(int64_t first_sample, std::span<const Sample> samples,
              const std::vector<std::vector<float>>& rows, int64_t window_offset);
  size_t n_runs() const { return runs_.size(); }
  const Run& run(size_t i) const { return runs_[i]; }
  // The run's metadata [N] and rows of site s [N, K_s].
  void read_run(size_t i, std::vector<Meta>& meta, std::vector<std::vector<float>>& rows) const;

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::vector<int64_t> site_neurons_;
  std::vector<Run> runs_;
  uint64_t bytes_ = 0;
  // The file holds, per append: meta [n], then each site's rows [n, K_s]; a run is several appends.
  struct Chunk {
    int64_t count;
    uint64_t offset;
  };
  std::vector<std::vector<Chunk>> chunks_;  // [run][append]
};

}  // namespace neurolens::runner
