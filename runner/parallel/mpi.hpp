// Checked MPI for the runner — every MPI call of a run goes through here.
// Owns: the MPI session (init / finalize, single-threaded), rank and size, the collectives the
// runner needs (sum / max / min all-reduce, reduce-scatter by neuron slices, gathers, string
// gathers, all-to-all of records, broadcasts, the non-blocking vote between batches), the merge of
// per-neuron moments as a user-defined reduction (stats::merge_moments), and the two failure paths
// of a run: configuration errors that every rank sees end the run cleanly on all ranks
// (collective_check), local faults abort the job with the rank that failed (abort_with).
// Example:
//   MpiSession mpi(argc, argv);
//   Comm world = mpi.world();
//   world.allreduce_sum(partials);                       // in place, doubles
//   auto mine = world.reduce_scatter_moments(records, counts);
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "io/mpi_handle.hpp"
#include "stats/moments.hpp"

namespace neurolens::runner {

// Throws neurolens::Error naming the call when rc is not MPI_SUCCESS.
void mpi_check(int rc, std::string_view what);

// Per-neuron moments as MPI sees them: 5 doubles, merged with stats::merge_moments (Chan's
// parallel formula; the one merge of moments in neurolens).
using MomentRecord = stats::MomentCell;

class Comm {
 public:
  Comm();  // MPI_COMM_WORLD
  // An MPI_Comm as io::MpiHandle (io/mpi_handle_cast.hpp converts, in code that includes <mpi.h>).
  explicit Comm(io::MpiHandle comm);
  io::MpiHandle raw() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  void barrier() const;
  void allreduce_sum(std::span<double> values) const;
  void allreduce_sum(std::span<int64_t> values) const;
  int64_t allreduce_sum(int64_t value) const;
  double allreduce_max(double value) const;
  int allreduce_max(int value) const;
  int64_t allreduce_max(int64_t value) const;
  // Element-wise max / min across ranks, in place (every rank gets the result).
  void allreduce_max(std::span<double> values) const;
  void allreduce_min(std::span<double> values) const;
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
  // Every rank's strings, concatenated in rank order, on every rank.
  std::vector<std::string> allgather_strings(const std::vector<std::string>& mine) const;
  // Personalized all-to-all of records: this rank sends send[send_displs[q], + send_counts[q])
  // to rank q and receives recv_counts[q] records from each q, concatenated in rank order.
  // Counts and displacements are in records; fewer than 2^31 bytes per rank.
  template <typename T>
  std::vector<T> alltoallv(std::span<const T> send, std::span<const int64_t> send_counts,
                           std::span<const int64_t> send_displs,
                           std::span<const int64_t> recv_counts) const {
    static_assert(std::is_trivially_copyable_v<T>);
    int64_t total = 0;
    for (int64_t c : recv_counts) total += c;
    std::vector<T> recv(static_cast<size_t>(total));
    alltoallv_bytes(send.data(), send_counts, send_displs, recv.data(), recv_counts, sizeof(T));
    return recv;
  }
  // Ranks on this rank's node (sharing its memory).
  int ranks_on_node() const;
  // A non-blocking element-wise max of a few ints (the engine's vote between batches): start()
  // sends `mine`, wait() returns every rank's max; one vote in flight at a time.
  class MaxVote {
   public:
    explicit MaxVote(const Comm& comm) : comm_(comm) {}
    ~MaxVote();
    MaxVote(const MaxVote&) = delete;
    MaxVote& operator=(const MaxVote&) = delete;
    void start(std::span<const int> mine);
    bool pending() const { return pending_; }
    std::span<const int> wait();

   private:
    const Comm& comm_;
    io::MpiHandle request_;  // an MPI_Request while pending_
    bool pending_ = false;
    std::vector<int> out_, in_;
  };
  void broadcast(std::string& text, int from = 0) const;
  void broadcast(std::span<double> values, int from = 0) const;
  void broadcast(std::span<int64_t> values, int from = 0) const;

 private:
  void alltoallv_bytes(const void* send, std::span<const int64_t> send_counts,
                       std::span<const int64_t> send_displs, void* recv,
                       std::span<const int64_t> recv_counts, size_t record_bytes) const;
  io::MpiHandle comm_;
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
  Comm world() const { return Comm(); }
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
