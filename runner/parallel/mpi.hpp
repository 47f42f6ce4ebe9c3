// Checked MPI for the runner — every MPI call of a run goes through here.
// Owns: the MPI session (init / finalize, single-threaded), rank and size, the collectives the
// runner needs (sum all-reduce, reduce-scatter by neuron slices, gathers, broadcasts), the
// merge of per-neuron moments as a user-defined reduction, and the two failure paths of a run:
// configuration errors that every rank sees end the run cleanly on all ranks
// (collective_check), local faults abort the job with the rank that failed (abort_with).
// Example:
//   MpiSession mpi(argc, argv);
//   Comm world = mpi.world();
//   world.allreduce_sum(partials);                       // in place, doubles
//   auto mine = world.reduce_scatter_moments(records, counts);
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace neurolens::runner {

// Throws neurolens::Error naming the call when rc != MPI_SUCCESS.
void mpi_check(int rc, std::string_view what);

// Per-neuron moments as MPI sees them: 5 doubles, merged with Chan's parallel formula.
struct MomentRecord {
  double n;
  double mean;
  double m2;
  double min;
  double max;
};

class Comm {
 public:
  explicit Comm(MPI_Comm comm = MPI_COMM_WORLD);
  MPI_Comm raw() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  void barrier() const;
  void allreduce_sum(std::span<double> values) const;
  void allreduce_sum(std::span<int64_t> values) const;
  int64_t allreduce_sum(int64_t value) const;
  double allreduce_max(double value) const;
  int allreduce_max(int value) const;
  // Element-wise Chan merge of moment records across ranks (every rank gets the result).
  void allreduce_moments(std::span<MomentRecord> records) const;
  // Merges records across ranks and leaves rank r with records [offsets[r], offsets[r+1]).
  std::vector<MomentRecord> reduce_scatter_moments(std::span<const MomentRecord> records,
                                                   std::span<const int64_t> offsets) const;
  // Sums across ranks and leaves rank r with values [offsets[r], offsets[r+1]).
  std::vector<double> reduce_scatter_sum(std::span<const double> values,
                                         std::span<const int64_t> offsets) const;
  // Every rank's values, concatenated in rank order (variable counts).
  std::vector<double> allgatherv(std::span<const double> mine) const;
  std::vector<int64_t> allgatherv(std::span<const int64_t> mine) const;
  std::vector<double> gatherv_root(std::span<const double> mine) const;  // rank 0 gets all
  void broadcast(std::string& text, int from = 0) const;
  void broadcast(std::span<double> values, int from = 0) const;
  void broadcast(std::span<int64_t> values, int from = 0) const;

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

// MPI_Init / MPI_Finalize around a run. Creates the MomentRecord type and merge operation.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  Comm world() const { return Comm(MPI_COMM_WORLD); }
  static bool initialized();
};

// Runs `step` on every rank. If it throws neurolens::Error on any rank, every rank learns the
// first failing rank's message and throws CollectiveFailure with it, so all ranks can end
// cleanly (rank 0 prints it once). Use for work whose failure is the same everywhere
// (configuration, inputs every rank reads).
struct CollectiveFailure {
  std::string message;
};
void collective_check(const Comm& comm, const std::function<void()>& step);

// A local fault: prints "neurolens: error: rank R: <message>", runs the cleanup registered by
// set_abort_cleanup (e.g. rank 0 removing its temporary output file) and aborts the whole job.
[[noreturn]] void abort_with(const Comm& comm, const std::string& message);
void set_abort_cleanup(std::function<void()> cleanup);

}  // namespace neurolens::runner
