#include "runner/parallel/sharding.hpp"

#include <gtest/gtest.h>

using namespace neurolens::runner;

TEST(Sharding, BlocksCoverEverythingOnceAndAreBalanced) {
  for (int64_t total : {0, 1, 2, 5, 7, 100, 101, 1023}) {
    for (int size = 1; size <= 9; ++size) {
      int64_t expected_begin = 0;
      for (int r = 0; r < size; ++r) {
        Block b = block_range(total, r, size);
        EXPECT_EQ(b.begin, expected_begin) << total << " " << size << " " << r;
        EXPECT_LE(b.size(), total / size + 1);
        EXPECT_GE(b.size(), total / size);
        for (int64_t i = b.begin; i < b.end; ++i) {
          EXPECT_EQ(block_owner(i, total, size), r) << "index " << i << " total " << total;
        }
        expected_begin = b.end;
      }
      EXPECT_EQ(expected_begin, total);
      auto offsets = block_offsets(total, size);
      ASSERT_EQ(offsets.size(), static_cast<size_t>(size) + 1);
      EXPECT_EQ(offsets.back(), total);
      for (int r = 0; r < size; ++r)
        EXPECT_EQ(offsets[static_cast<size_t>(r)], block_range(total, r, size).begin);
    }
  }
}
