// stats::merged_moments — the one merge of moments (Chan's update): the same as adding the
// samples in order, exact for constants, a no-op with an empty side.
#include <gtest/gtest.h>

#include <vector>

#include "stats/moments.hpp"

using neurolens::stats::GroupMoments;
using neurolens::stats::merged_moments;
using neurolens::stats::MomentCell;

namespace {

MomentCell cell_of(const GroupMoments& m, size_t j) {
  return {m.count(), m.mean()[j], m.m2()[j], m.min()[j], m.max()[j]};
}

}  // namespace

TEST(MergedMoments, EqualsGroupMomentsMerge) {
  const std::vector<float> a = {1.0f, 4.0f, 2.0f}, b = {8.0f, -1.0f};
  GroupMoments ma(1), mb(1);
  ma.add(a, 3, 1);
  mb.add(b, 2, 1);
  const MomentCell m = merged_moments(cell_of(ma, 0), cell_of(mb, 0));
  ma.merge(mb);
  EXPECT_EQ(m.n, 5.0);
  EXPECT_EQ(m.mean, ma.mean()[0]);
  EXPECT_EQ(m.m2, ma.m2()[0]);
  EXPECT_EQ(m.min, -1.0);
  EXPECT_EQ(m.max, 8.0);
  EXPECT_NEAR(m.mean, 14.0 / 5.0, 1e-15);
}

TEST(MergedMoments, EmptySideChangesNothing) {
  const MomentCell x{3.0, 2.0, 4.5, 0.5, 3.5};
  const MomentCell empty;
  const MomentCell left = merged_moments(empty, x), right = merged_moments(x, empty);
  for (const MomentCell& m : {left, right}) {
    EXPECT_EQ(m.n, x.n);
    EXPECT_EQ(m.mean, x.mean);
    EXPECT_EQ(m.m2, x.m2);
    EXPECT_EQ(m.min, x.min);
    EXPECT_EQ(m.max, x.max);
  }
}

TEST(MergedMoments, ConstantsStayExact) {
  const MomentCell a{3.0, 0.1, 0.0, 0.1, 0.1}, b{7.0, 0.1, 0.0, 0.1, 0.1};
  const MomentCell m = merged_moments(a, b);
  EXPECT_EQ(m.n, 10.0);
  EXPECT_EQ(m.mean, 0.1);
  EXPECT_EQ(m.m2, 0.0);
}
