// Property tests: for every mergeable statistic, building from random splits of the samples into
// 1..8 parts and merging in random order equals building from the concatenated samples; and
// serialize/deserialize round-trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "stats/argmax_tally.hpp"
#include "stats/auc.hpp"
#include "stats/histogram.hpp"
#include "stats/moments.hpp"
#include "stats/topk.hpp"
#include "tests/stats/fixture.hpp"

namespace neurolens::stats {
namespace {

using testing::all_close;

constexpr std::size_t kN = 160, kK = 7;

struct Batch {
  std::vector<float> x;  // [N, K], with ties (values rounded to 1/8)
  std::vector<std::int64_t> seq;
  std::vector<std::int32_t> pos, tok;
};

Batch make_batch(std::mt19937& rng) {
  Batch b;
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (std::size_t i = 0; i < kN * kK; ++i) b.x.push_back(std::round(normal(rng) * 8.0f) / 8.0f);
  for (std::size_t j = 0; j < kK; ++j) b.x[5 * kK + j] = 1.0f;  // a constant neuron's worth
  for (std::size_t i = 0; i < kN; ++i) b.x[i * kK + 3] = 1.0f;  // neuron 3 constant
  for (std::size_t i = 0; i < kN; ++i) {
    b.seq.push_back(static_cast<std::int64_t>(i / 16));
    b.pos.push_back(static_cast<std::int32_t>(i % 16));
    b.tok.push_back(static_cast<std::int32_t>(rng() % 11));
  }
  return b;
}

// Random cut points 0 = c0 <= c1 <= ... <= c_parts = N (multiples of `align`).
std::vector<std::size_t> random_cuts(std::mt19937& rng, std::size_t parts, std::size_t align) {
  std::vector<std::size_t> cut = {0, kN};
  for (std::size_t p = 1; p < parts; ++p) cut.push_back((rng() % (kN / align + 1)) * align);
  std::sort(cut.begin(), cut.end());
  return cut;
}

// Builds one statistic per part with `make` + `add`, merges them in a random order.
template <typename Stat, typename Make, typename Add>
Stat split_and_merge(std::mt19937& rng, const std::vector<std::size_t>& cut, Make make, Add add) {
  std::vector<Stat> parts;
  for (std::size_t s = 0; s + 1 < cut.size(); ++s) {
    Stat st = make();
    add(st, cut[s], cut[s + 1] - cut[s]);
    parts.push_back(Stat::deserialize(st.serialize()));  // every part travels serialized
  }
  std::shuffle(parts.begin(), parts.end(), rng);
  while (parts.size() > 1) {  // random pairwise (tree) merges
    const std::size_t i = rng() % (parts.size() - 1);
    parts[i].merge(parts[i + 1]);
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  }
  return parts[0];
}

class MergeInAnyParts : public ::testing::TestWithParam<std::size_t> {
 protected:
  std::mt19937 rng{static_cast<unsigned>(1000 + GetParam())};
  Batch data = make_batch(rng);
  std::span<const float> rows(std::size_t start, std::size_t count) const {
    return std::span<const float>(data.x).subspan(start * kK, count * kK);
  }
};

TEST_P(MergeInAnyParts, Moments) {
  GroupMoments whole(kK);
  whole.add(data.x, kN, kK);
  const auto merged = split_and_merge<GroupMoments>(
      rng, random_cuts(rng, GetParam(), 1), [] { return GroupMoments(kK); },
      [&](GroupMoments& m, std::size_t s, std::size_t c) { m.add(rows(s, c), c, kK); });
  EXPECT_EQ(merged.count(), whole.count());
  const auto vec = [](std::span<const double> s) {
    return std::vector<double>(s.begin(), s.end());
  };
  EXPECT_TRUE(all_close(vec(whole.mean()), vec(merged.mean()), 1e-13, 1e-15));
  EXPECT_TRUE(all_close(vec(whole.m2()), vec(merged.m2()), 1e-12));
  EXPECT_EQ(vec(whole.min()), vec(merged.min()));
  EXPECT_EQ(vec(whole.max()), vec(merged.max()));
  EXPECT_EQ(merged.variance(3), 0.0) << "constant neuron stays exactly constant";
  EXPECT_EQ(merged.mean()[3], 1.0);
  EXPECT_EQ(GroupMoments::deserialize(merged.serialize()).serialize(), merged.serialize());
}

TEST_P(MergeInAnyParts, Auc) {
  AucAccumulator whole(kK);
  whole.add_a(rows(0, kN / 2), kN / 2, kK);
  whole.add_b(rows(kN / 2, kN - kN / 2), kN - kN / 2, kK);
  const auto merged = split_and_merge<AucAccumulator>(
      rng, random_cuts(rng, GetParam(), 1), [] { return AucAccumulator(kK); },
      [&](AucAccumulator& a, std::size_t s, std::size_t c) {
        // samples before N/2 are group a, after are group b
        const std::size_t a_end = std::min(s + c, std::max(s, kN / 2));
        if (a_end > s) a.add_a(rows(s, a_end - s), a_end - s, kK);
        if (s + c > a_end) a.add_b(rows(a_end, s + c - a_end), s + c - a_end, kK);
      });
  const AucResult r1 = whole.finalize(), r2 = merged.finalize();
  EXPECT_EQ(r1.auc, r2.auc);
  EXPECT_EQ(r1.u, r2.u);
  EXPECT_TRUE(all_close(r1.p, r2.p, 0.0));
  EXPECT_EQ(AucAccumulator::deserialize(merged.serialize()).serialize(), merged.serialize());
}

TEST_P(MergeInAnyParts, Histogram) {
  for (auto scope : {Histogram::Scope::PerNeuron, Histogram::Scope::Pooled}) {
    const std::vector<double> edges = Histogram::uniform_edges(-3.0, 3.0, 12);
    Histogram whole(edges, kK, scope);
    whole.add(data.x, kN, kK);
    const auto merged = split_and_merge<Histogram>(
        rng, random_cuts(rng, GetParam(), 1), [&] { return Histogram(edges, kK, scope); },
        [&](Histogram& h, std::size_t s, std::size_t c) { h.add(rows(s, c), c, kK); });
    EXPECT_EQ(whole.serialize(), merged.serialize());
    EXPECT_EQ(Histogram::deserialize(merged.serialize()).serialize(), merged.serialize());
  }
}

TEST_P(MergeInAnyParts, TopK) {
  constexpr std::size_t k = 5;
  const auto add = [&](TopK& t, std::size_t s, std::size_t c) {
    t.add(rows(s, c), c, kK, std::span<const std::int64_t>(data.seq).subspan(s, c),
          std::span<const std::int32_t>(data.pos).subspan(s, c),
          std::span<const std::int32_t>(data.tok).subspan(s, c));
  };
  TopK whole(kK, k);
  add(whole, 0, kN);
  const auto merged = split_and_merge<TopK>(
      rng, random_cuts(rng, GetParam(), 1), [] { return TopK(kK, k); }, add);
  for (std::size_t j = 0; j < kK; ++j) {
    // Brute force: sort all samples of neuron j by the documented order, keep k.
    std::vector<TopKEntry> all;
    for (std::size_t i = 0; i < kN; ++i) {
      all.push_back({data.x[i * kK + j], data.seq[i], data.pos[i], data.tok[i]});
    }
    std::sort(all.begin(), all.end(), topk_before);
    all.resize(k);
    EXPECT_EQ(whole.top(j), all) << "neuron " << j;
    EXPECT_EQ(merged.top(j), all) << "neuron " << j;
  }
  EXPECT_EQ(TopK::deserialize(merged.serialize()).serialize(), merged.serialize());
}

TEST_P(MergeInAnyParts, ArgmaxTally) {
  constexpr std::size_t batch = 16;
  ArgmaxTally whole(kK);
  whole.add_batches(data.x, kN, kK, data.tok, batch);
  const auto merged = split_and_merge<ArgmaxTally>(
      rng, random_cuts(rng, GetParam(), batch), [] { return ArgmaxTally(kK); },
      [&](ArgmaxTally& t, std::size_t s, std::size_t c) {
        t.add_batches(rows(s, c), c, kK, std::span<const std::int32_t>(data.tok).subspan(s, c),
                      batch);
      });
  EXPECT_EQ(merged.batches(), kN / batch);
  EXPECT_EQ(whole.serialize(), merged.serialize());
  // Brute force for neuron 0: winner of each batch, ties to the smaller token.
  std::map<std::int32_t, std::uint64_t> expect;
  for (std::size_t b0 = 0; b0 < kN; b0 += batch) {
    std::size_t best = b0;
    for (std::size_t i = b0 + 1; i < b0 + batch; ++i) {
      const float v = data.x[i * kK], w = data.x[best * kK];
      if (v > w || (v == w && data.tok[i] < data.tok[best])) best = i;
    }
    ++expect[data.tok[best]];
  }
  const std::vector<ArgmaxTally::TokenCount> want(expect.begin(), expect.end());
  EXPECT_EQ(merged.tally(0), want);
  // Neuron 3 is constant: every batch is a tie, won by its smallest token.
  std::uint64_t total = 0;
  for (const auto& tc : merged.tally(3)) total += tc.second;
  EXPECT_EQ(total, kN / batch);
  EXPECT_EQ(ArgmaxTally::deserialize(merged.serialize()).serialize(), merged.serialize());
}

TEST_P(MergeInAnyParts, DefaultConstructedTakesTheOthersShape) {
  GroupMoments m(kK);
  m.add(data.x, kN, kK);
  GroupMoments m0;
  m0.merge(m);
  EXPECT_EQ(m0.serialize(), m.serialize());
  AucAccumulator a(kK);
  a.add_a(data.x, kN, kK);
  AucAccumulator a0;
  a0.merge(a);
  EXPECT_EQ(a0.serialize(), a.serialize());
  Histogram h(Histogram::uniform_edges(-1, 1, 4), kK, Histogram::Scope::Pooled);
  h.add(data.x, kN, kK);
  Histogram h0;
  h0.merge(h);
  EXPECT_EQ(h0.serialize(), h.serialize());
  TopK t(kK, 3);
  t.add(data.x, kN, kK, data.seq, data.pos, data.tok);
  TopK t0;
  t0.merge(t);
  EXPECT_EQ(t0.serialize(), t.serialize());
  ArgmaxTally g(kK);
  g.add_batch(data.x, kN, kK, data.tok);
  ArgmaxTally g0;
  g0.merge(g);
  EXPECT_EQ(g0.serialize(), g.serialize());
}

INSTANTIATE_TEST_SUITE_P(Parts, MergeInAnyParts, ::testing::Range<std::size_t>(1, 9));

}  // namespace
}  // namespace neurolens::stats
