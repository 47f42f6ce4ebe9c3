// Plan batches and their balance over ranks (runner/engine/plan.hpp), without MPI.
#include <gtest/gtest.h>

#include "runner/engine/plan.hpp"

using neurolens::runner::Plan;

namespace {

Plan plan_of(int64_t n_windows, int batch_size) {
  Plan plan;
  plan.windows.resize(static_cast<size_t>(n_windows));
  for (int64_t u = 0; u <= n_windows; ++u) plan.unit_offsets.push_back(u);  // one window per unit
  plan.make_batches(batch_size);
  return plan;
}

}  // namespace

TEST(PlanBatches, BatchesAreWholeChunksOfBatchSize) {
  const Plan plan = plan_of(120, 32);
  EXPECT_EQ(plan.batch_offsets, (std::vector<int64_t>{0, 32, 64, 96, 120}));
  EXPECT_EQ(plan.n_batches(), 4);
}

TEST(PlanBatches, BalanceWarningNamesABatchSizeThatSpreadsTheWindows) {
  // 4 batches over 3 ranks: the busiest rank runs 2, 4 / 6 of the time is used.
  const std::string w = plan_of(120, 32).balance_warning(32, 3);
  EXPECT_NE(w.find("4 batches of up to 32 windows over 3 ranks"), std::string::npos) << w;
  EXPECT_NE(w.find("67%"), std::string::npos) << w;
  EXPECT_NE(w.find("batch_size = 20"), std::string::npos) << w;
  EXPECT_EQ(plan_of(120, 20).balance_warning(20, 3), "");  // 6 batches: 2 per rank
  // Fewer batches than ranks: idle ranks.
  const std::string idle = plan_of(10, 16).balance_warning(16, 4);
  EXPECT_NE(idle.find("25%"), std::string::npos) << idle;
  EXPECT_NE(idle.find("batch_size = 3"), std::string::npos) << idle;
  // One rank, or an even split, or nearly so: no warning.
  EXPECT_EQ(plan_of(120, 32).balance_warning(32, 1), "");
  EXPECT_EQ(plan_of(1000, 10).balance_warning(10, 3), "");  // 100 batches: 34 / 33.3
  EXPECT_EQ(Plan{}.balance_warning(16, 4), "");
}
