// Comm's reductions and collectives (runner/parallel/mpi.hpp) at 1-4 ranks: the moments merge
// (stats::merged_moments as an MPI operation) against one serial pass, max / min all-reduces,
// string gathers, the all-to-all of records, and the non-blocking vote.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "runner/parallel/mpi.hpp"
#include "runner/parallel/sharding.hpp"
#include "stats/moments.hpp"

using namespace neurolens;
using runner::Comm;
using runner::MomentRecord;

namespace {

// Row i of a [N, K] matrix: neuron 0 varies, neuron 1 is constant, neuron 2 grows with i.
std::vector<float> rows(int64_t begin, int64_t end, size_t k) {
  std::vector<float> x;
  for (int64_t i = begin; i < end; ++i) {
    x.push_back(static_cast<float>(std::sin(0.7 * static_cast<double>(i)) * 3.0 + 1.0));
    x.push_back(0.1f);
    x.push_back(static_cast<float>(i) * 0.25f);
  }
  x.resize(static_cast<size_t>(end - begin) * k);
  return x;
}

std::vector<MomentRecord> records_of(const stats::GroupMoments& m) {
  std::vector<MomentRecord> out(m.neurons());
  for (size_t j = 0; j < m.neurons(); ++j) {
    out[j] = {m.count(), m.mean()[j], m.m2()[j], m.min()[j], m.max()[j]};
  }
  return out;
}

}  // namespace

TEST(Comm, MomentsReductionMatchesOneSerialPass) {
  const Comm comm;
  constexpr size_t K = 3;
  constexpr int64_t N = 101;
  const std::vector<int64_t> offsets = runner::block_offsets(N, comm.size());
  const int64_t b = offsets[static_cast<size_t>(comm.rank())];
  const int64_t e = offsets[static_cast<size_t>(comm.rank()) + 1];
  stats::GroupMoments mine(K);
  if (e > b) mine.add(rows(b, e, K), static_cast<size_t>(e - b), K);
  std::vector<MomentRecord> merged = records_of(mine);
  comm.allreduce_moments(merged);

  stats::GroupMoments all(K);
  all.add(rows(0, N, K), static_cast<size_t>(N), K);
  for (size_t j = 0; j < K; ++j) {
    EXPECT_EQ(merged[j].n, static_cast<double>(N));
    EXPECT_NEAR(merged[j].mean, all.mean()[j], 1e-12 * (1 + std::fabs(all.mean()[j])));
    EXPECT_NEAR(merged[j].m2, all.m2()[j], 1e-10 * (1 + all.m2()[j]));
    EXPECT_EQ(merged[j].min, all.min()[j]);
    EXPECT_EQ(merged[j].max, all.max()[j]);
  }
  // A constant neuron stays exactly constant however the samples are split.
  EXPECT_EQ(merged[1].mean, static_cast<double>(0.1f));
  EXPECT_EQ(merged[1].m2, 0.0);

  // Reduce-scatter by neuron slice: each rank's slice of the same merge.
  const std::vector<int64_t> slices = runner::block_offsets(K, comm.size());
  const std::vector<MomentRecord> slice = comm.reduce_scatter_moments(records_of(mine), slices);
  const auto s0 = static_cast<size_t>(slices[static_cast<size_t>(comm.rank())]);
  ASSERT_EQ(slice.size(), static_cast<size_t>(slices[static_cast<size_t>(comm.rank()) + 1]) - s0);
  for (size_t j = 0; j < slice.size(); ++j) {
    EXPECT_EQ(slice[j].n, merged[s0 + j].n);
    // (MPI may associate the merges of another collective differently: equal up to rounding.)
    EXPECT_NEAR(slice[j].mean, merged[s0 + j].mean, 1e-12 * (1 + std::fabs(merged[s0 + j].mean)));
    EXPECT_NEAR(slice[j].m2, merged[s0 + j].m2, 1e-10 * (1 + merged[s0 + j].m2));
  }
}

TEST(Comm, MomentsReductionSkipsRanksWithoutSamples) {
  const Comm comm;
  stats::GroupMoments mine(2);
  if (comm.rank() == comm.size() - 1) {
    const std::vector<float> x = {1.0f, 2.0f, 3.0f, 6.0f};
    mine.add(x, 2, 2);
  }
  std::vector<MomentRecord> merged = records_of(mine);
  comm.allreduce_moments(merged);
  EXPECT_EQ(merged[0].n, 2.0);
  EXPECT_EQ(merged[0].mean, 2.0);
  EXPECT_EQ(merged[1].mean, 4.0);
  EXPECT_EQ(merged[1].m2, 2.0 * 2.0 + 2.0 * 2.0);
  EXPECT_EQ(merged[0].min, 1.0);
  EXPECT_EQ(merged[1].max, 6.0);
}

TEST(Comm, MaxAndMinAllReduce) {
  const Comm comm;
  const double r = comm.rank();
  std::vector<double> hi = {r, -r, 2.5}, lo = {r, -r, 2.5};
  comm.allreduce_max(hi);
  comm.allreduce_min(lo);
  const double last = comm.size() - 1;
  EXPECT_EQ(hi, (std::vector<double>{last, 0.0, 2.5}));
  EXPECT_EQ(lo, (std::vector<double>{0.0, -last, 2.5}));
  const int64_t big = int64_t{comm.rank()} * 10'000'000'000;
  EXPECT_EQ(comm.allreduce_max(big), int64_t{comm.size() - 1} * 10'000'000'000);
}

TEST(Comm, AllgatherStringsKeepsRankOrderAndEmptyStrings) {
  const Comm comm;
  std::vector<std::string> mine;
  for (int i = 0; i < comm.rank(); ++i)
    mine.push_back(std::to_string(comm.rank()) + ":" + std::to_string(i));
  mine.push_back("");
  std::vector<std::string> expected;
  for (int r = 0; r < comm.size(); ++r) {
    for (int i = 0; i < r; ++i) expected.push_back(std::to_string(r) + ":" + std::to_string(i));
    expected.push_back("");
  }
  EXPECT_EQ(comm.allgather_strings(mine), expected);
}

TEST(Comm, AlltoallvDeliversEveryRecordInRankOrder) {
  struct Record {
    int32_t from, to, index;
  };
  const Comm comm;
  const auto n = static_cast<size_t>(comm.size());
  std::vector<Record> send;
  std::vector<int64_t> counts(n), displs(n), recv_counts(n);
  for (int q = 0; q < comm.size(); ++q) {
    displs[static_cast<size_t>(q)] = static_cast<int64_t>(send.size());
    counts[static_cast<size_t>(q)] = comm.rank() + q + 1;
    for (int i = 0; i < comm.rank() + q + 1; ++i) send.push_back({comm.rank(), q, i});
    recv_counts[static_cast<size_t>(q)] = q + comm.rank() + 1;
  }
  const std::vector<Record> got = comm.alltoallv<Record>(send, counts, displs, recv_counts);
  size_t at = 0;
  for (int q = 0; q < comm.size(); ++q) {
    for (int i = 0; i < q + comm.rank() + 1; ++i, ++at) {
      ASSERT_LT(at, got.size());
      EXPECT_EQ(got[at].from, q);
      EXPECT_EQ(got[at].to, comm.rank());
      EXPECT_EQ(got[at].index, i);
    }
  }
  EXPECT_EQ(at, got.size());
}

TEST(Comm, MaxVoteIsTheMaximumOfEveryRanksFlags) {
  const Comm comm;
  Comm::MaxVote vote(comm);
  EXPECT_FALSE(vote.pending());
  const int mine[2] = {comm.rank() == 0 ? 1 : 0, comm.rank()};
  vote.start(mine);
  EXPECT_TRUE(vote.pending());
  const std::span<const int> all = vote.wait();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], 1);
  EXPECT_EQ(all[1], comm.size() - 1);
  EXPECT_FALSE(vote.pending());
}

TEST(Comm, RanksOnNodeCountsThisMachine) {
  const Comm comm;
  EXPECT_EQ(comm.ranks_on_node(), comm.size());  // the test runs on one machine
}
