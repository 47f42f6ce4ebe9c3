#include "runner/parallel/mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "io/error.hpp"
#include "io/mpi_handle_cast.hpp"

namespace neurolens::runner {
namespace {

MPI_Datatype g_moment_type = MPI_DATATYPE_NULL;
MPI_Op g_moment_merge = MPI_OP_NULL;

void merge_moment_records(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const MomentRecord*>(in);
  auto* b = static_cast<MomentRecord*>(inout);
  // In rank order (a comes from lower ranks), as if the data had been concatenated.
  for (int i = 0; i < *len; ++i) b[i] = stats::merged_moments(a[i], b[i]);
}

// The moment record type and merge operation: made by MpiSession, or on first use where MPI was
// initialised elsewhere (the MPI tests' shared main).
void make_moment_ops() {
  if (g_moment_type != MPI_DATATYPE_NULL) return;
  mpi_check(MPI_Type_contiguous(5, MPI_DOUBLE, &g_moment_type), "MPI_Type_contiguous");
  mpi_check(MPI_Type_commit(&g_moment_type), "MPI_Type_commit");
  mpi_check(MPI_Op_create(merge_moment_records, 0, &g_moment_merge), "MPI_Op_create");
}

int to_int(int64_t v, std::string_view what) {
  if (v < 0 || v > INT_MAX) {
    throw Error(std::string(what), "more than 2^31 elements in one MPI call",
                "run on more ranks or use fewer layers per job");
  }
  return static_cast<int>(v);
}

std::vector<int> counts_from_offsets(std::span<const int64_t> offsets, int size,
                                     std::string_view what) {
  if (static_cast<int>(offsets.size()) != size + 1) {
    throw Error(std::string(what), "internal: offsets must have size + 1 entries");
  }
  std::vector<int> counts(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) {
    counts[static_cast<size_t>(r)] =
        static_cast<int>(offsets[static_cast<size_t>(r) + 1] - offsets[static_cast<size_t>(r)]);
  }
  return counts;
}

}  // namespace

void mpi_check(int rc, std::string_view what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error("MPI " + std::string(what), std::string(text, static_cast<size_t>(length)),
              "check the MPI installation and that all ranks run the same job");
}

Comm::Comm() : Comm(io::to_handle(MPI_COMM_WORLD)) {}

Comm::Comm(io::MpiHandle comm) : comm_(comm) {
  mpi_check(MPI_Comm_rank(io::to_comm(comm_), &rank_), "MPI_Comm_rank");
  mpi_check(MPI_Comm_size(io::to_comm(comm_), &size_), "MPI_Comm_size");
}

void Comm::barrier() const {
  mpi_check(MPI_Barrier(io::to_comm(comm_)), "MPI_Barrier");
}

void Comm::allreduce_sum(std::span<double> values) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE,
                          MPI_SUM, io::to_comm(comm_)),
            "MPI_Allreduce");
}

void Comm::allreduce_sum(std::span<int64_t> values) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_INT64_T,
                          MPI_SUM, io::to_comm(comm_)),
            "MPI_Allreduce");
}

int64_t Comm::allreduce_sum(int64_t value) const {
  allreduce_sum(std::span<int64_t>(&value, 1));
  return value;
}

double Comm::allreduce_max(double value) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, io::to_comm(comm_)),
            "MPI_Allreduce");
  return value;
}

int Comm::allreduce_max(int value) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, io::to_comm(comm_)),
            "MPI_Allreduce");
  return value;
}

static_assert(sizeof(MomentRecord) == 5 * sizeof(double));

void Comm::allreduce_moments(std::span<MomentRecord> records) const {
  make_moment_ops();
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, records.data(), static_cast<int>(records.size()),
                          g_moment_type, g_moment_merge, io::to_comm(comm_)),
            "MPI_Allreduce(moments)");
}

std::vector<MomentRecord> Comm::reduce_scatter_moments(std::span<const MomentRecord> records,
                                                       std::span<const int64_t> offsets) const {
  make_moment_ops();
  const std::vector<int> counts = counts_from_offsets(offsets, size_, "reduce_scatter_moments");
  std::vector<MomentRecord> mine(static_cast<size_t>(counts[static_cast<size_t>(rank_)]));
  mpi_check(MPI_Reduce_scatter(records.data(), mine.data(), counts.data(), g_moment_type,
                               g_moment_merge, io::to_comm(comm_)),
            "MPI_Reduce_scatter(moments)");
  return mine;
}

std::vector<double> Comm::reduce_scatter_sum(std::span<const double> values,
                                             std::span<const int64_t> offsets) const {
  const std::vector<int> counts = counts_from_offsets(offsets, size_, "reduce_scatter_sum");
  std::vector<double> mine(static_cast<size_t>(counts[static_cast<size_t>(rank_)]));
  mpi_check(MPI_Reduce_scatter(values.data(), mine.data(), counts.data(), MPI_DOUBLE, MPI_SUM,
                               io::to_comm(comm_)),
            "MPI_Reduce_scatter");
  return mine;
}

namespace {
template <typename T>
std::vector<T> allgatherv_impl(MPI_Comm comm, int size, std::span<const T> mine, MPI_Datatype type,
                               bool root_only) {
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<size_t>(size));
  mpi_check(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm), "MPI_Allgather");
  std::vector<int> displs(static_cast<size_t>(size), 0);
  int64_t total = 0;
  for (int r = 0; r < size; ++r) {
    displs[static_cast<size_t>(r)] = static_cast<int>(total);
    total += counts[static_cast<size_t>(r)];
  }
  std::vector<T> all(static_cast<size_t>(total));
  if (root_only) {
    mpi_check(MPI_Gatherv(mine.data(), count, type, all.data(), counts.data(), displs.data(), type,
                          0, comm),
              "MPI_Gatherv");
  } else {
    mpi_check(MPI_Allgatherv(mine.data(), count, type, all.data(), counts.data(), displs.data(),
                             type, comm),
              "MPI_Allgatherv");
  }
  return all;
}
}  // namespace

std::vector<double> Comm::allgatherv(std::span<const double> mine) const {
  return allgatherv_impl(io::to_comm(comm_), size_, mine, MPI_DOUBLE, false);
}

std::vector<int64_t> Comm::allgatherv(std::span<const int64_t> mine) const {
  return allgatherv_impl(io::to_comm(comm_), size_, mine, MPI_INT64_T, false);
}

std::vector<double> Comm::gatherv_root(std::span<const double> mine) const {
  return allgatherv_impl(io::to_comm(comm_), size_, mine, MPI_DOUBLE, true);
}

void Comm::broadcast(std::string& text, int from) const {
  int64_t length = static_cast<int64_t>(text.size());
  mpi_check(MPI_Bcast(&length, 1, MPI_INT64_T, from, io::to_comm(comm_)), "MPI_Bcast");
  text.resize(static_cast<size_t>(length));
  mpi_check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, from, io::to_comm(comm_)),
            "MPI_Bcast");
}

void Comm::broadcast(std::span<double> values, int from) const {
  mpi_check(MPI_Bcast(values.data(), static_cast<int>(values.size()), MPI_DOUBLE, from,
                      io::to_comm(comm_)),
            "MPI_Bcast");
}

void Comm::broadcast(std::span<int64_t> values, int from) const {
  mpi_check(MPI_Bcast(values.data(), static_cast<int>(values.size()), MPI_INT64_T, from,
                      io::to_comm(comm_)),
            "MPI_Bcast");
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as return codes, so mpi_check can report them.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  make_moment_ops();
}

MpiSession::~MpiSession() {
  if (g_moment_merge != MPI_OP_NULL) MPI_Op_free(&g_moment_merge);
  if (g_moment_type != MPI_DATATYPE_NULL) MPI_Type_free(&g_moment_type);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool MpiSession::initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

void collective_check(const Comm& comm, const std::function<void()>& step) {
  std::string message;
  int failed_rank = comm.size();
  try {
    step();
  } catch (const Error& e) {
    message = e.what();
    failed_rank = comm.rank();
  } catch (const std::exception& e) {
    message = e.what();
    failed_rank = comm.rank();
  }
  int first = failed_rank;
  mpi_check(MPI_Allreduce(&failed_rank, &first, 1, MPI_INT, MPI_MIN, io::to_comm(comm.raw())),
            "MPI_Allreduce");
  if (first == comm.size()) return;
  comm.broadcast(message, first);
  throw CollectiveFailure{message};
}

namespace {
std::function<void()>& abort_cleanup() {
  static std::function<void()> cleanup;
  return cleanup;
}
}  // namespace

void set_abort_cleanup(std::function<void()> cleanup) {
  abort_cleanup() = std::move(cleanup);
}

void abort_with(const Comm& comm, const std::string& message) {
  std::fprintf(stderr, "neurolens: error: rank %d: %s\n", comm.rank(), message.c_str());
  std::fflush(stderr);
  if (abort_cleanup()) {
    try {
      abort_cleanup()();
    } catch (...) {
    }
  }
  MPI_Abort(io::to_comm(comm.raw()), 1);
  std::abort();
}

// ---- Added for the studies and the engine (no MPI outside runner/parallel) -----------------

int64_t Comm::allreduce_max(int64_t value) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MAX, io::to_comm(comm_)),
            "MPI_Allreduce");
  return value;
}

void Comm::allreduce_max(std::span<double> values) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(),
                          to_int(static_cast<int64_t>(values.size()), "allreduce_max"), MPI_DOUBLE,
                          MPI_MAX, io::to_comm(comm_)),
            "MPI_Allreduce");
}

void Comm::allreduce_min(std::span<double> values) const {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(),
                          to_int(static_cast<int64_t>(values.size()), "allreduce_min"), MPI_DOUBLE,
                          MPI_MIN, io::to_comm(comm_)),
            "MPI_Allreduce");
}

std::vector<std::string> Comm::allgather_strings(const std::vector<std::string>& mine) const {
  std::vector<int64_t> lengths;
  std::string joined;
  for (const std::string& s : mine) {
    lengths.push_back(static_cast<int64_t>(s.size()));
    joined += s;
  }
  const std::vector<int64_t> all_lengths = allgatherv(lengths);
  int my_bytes = static_cast<int>(joined.size());
  std::vector<int> bytes(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  mpi_check(MPI_Allgather(&my_bytes, 1, MPI_INT, bytes.data(), 1, MPI_INT, io::to_comm(comm_)),
            "MPI_Allgather");
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    if (total > INT_MAX) {
      throw Error("allgather_strings", "the strings exceed 2 GB",
                  "gather fewer or shorter strings");
    }
    displs[static_cast<size_t>(r)] = static_cast<int>(total);
    total += bytes[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  mpi_check(MPI_Allgatherv(joined.data(), my_bytes, MPI_CHAR, all.data(), bytes.data(),
                           displs.data(), MPI_CHAR, io::to_comm(comm_)),
            "MPI_Allgatherv");
  std::vector<std::string> out;
  size_t at = 0;
  for (int64_t len : all_lengths) {
    out.push_back(all.substr(at, static_cast<size_t>(len)));
    at += static_cast<size_t>(len);
  }
  return out;
}

void Comm::alltoallv_bytes(const void* send, std::span<const int64_t> send_counts,
                           std::span<const int64_t> send_displs, void* recv,
                           std::span<const int64_t> recv_counts, size_t record_bytes) const {
  const auto n = static_cast<size_t>(size_);
  if (send_counts.size() != n || send_displs.size() != n || recv_counts.size() != n) {
    throw Error("alltoallv", "internal: counts must have one entry per rank");
  }
  std::vector<int> sc(n), sd(n), rc(n), rd(n);
  int64_t recv_total = 0;
  for (size_t q = 0; q < n; ++q) {
    sc[q] = to_int(send_counts[q], "alltoallv");
    sd[q] = to_int(send_displs[q], "alltoallv");
    rc[q] = to_int(recv_counts[q], "alltoallv");
    rd[q] = to_int(recv_total, "alltoallv");
    recv_total += recv_counts[q];
  }
  MPI_Datatype record;
  mpi_check(MPI_Type_contiguous(static_cast<int>(record_bytes), MPI_BYTE, &record),
            "MPI_Type_contiguous");
  mpi_check(MPI_Type_commit(&record), "MPI_Type_commit");
  const int status = MPI_Alltoallv(send, sc.data(), sd.data(), record, recv, rc.data(), rd.data(),
                                   record, io::to_comm(comm_));
  MPI_Type_free(&record);
  mpi_check(status, "MPI_Alltoallv");
}

int Comm::ranks_on_node() const {
  MPI_Comm node;
  mpi_check(MPI_Comm_split_type(io::to_comm(comm_), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  int on_node = 1;
  MPI_Comm_size(node, &on_node);
  MPI_Comm_free(&node);
  return on_node;
}

Comm::MaxVote::~MaxVote() {
  if (!pending_) return;
  auto request = io::from_handle<MPI_Request>(request_);
  MPI_Wait(&request, MPI_STATUS_IGNORE);
}

void Comm::MaxVote::start(std::span<const int> mine) {
  if (pending_) throw Error("MaxVote", "internal: a vote is already pending");
  out_.assign(mine.begin(), mine.end());
  in_.assign(mine.size(), 0);
  MPI_Request request = MPI_REQUEST_NULL;
  mpi_check(MPI_Iallreduce(out_.data(), in_.data(), static_cast<int>(out_.size()), MPI_INT, MPI_MAX,
                           io::to_comm(comm_.comm_), &request),
            "MPI_Iallreduce");
  request_ = io::to_handle(request);
  pending_ = true;
}

std::span<const int> Comm::MaxVote::wait() {
  if (pending_) {
    pending_ = false;
    auto request = io::from_handle<MPI_Request>(request_);
    mpi_check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
  }
  return in_;
}

}  // namespace neurolens::runner
