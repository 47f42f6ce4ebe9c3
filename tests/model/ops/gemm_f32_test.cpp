// The fp32 GEMM (model/ops/gemm_f32.hpp) against a double-precision reference: both right-hand
// layouts, alpha and accumulate, padded leading dimensions, every microkernel row count, column
// counts around the 16 / 32 panel edges, K split into several blocks, more than one 4096-column
// block; a right-hand side packed once (attention keys) against the unpacked product; row
// independence (a row's result does not depend on the other rows); argument errors.
// On CPUs without AVX-512F the same checks exercise the cblas_sgemm fallback.
#include "model/ops/gemm_f32.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/error.hpp"

namespace neurolens::model {
namespace {

struct Case {
  int rows, cols, inner;
  bool transposed;
  float alpha;
  bool accumulate;
};

std::string describe(const Case& c) {
  return "rows " + std::to_string(c.rows) + " cols " + std::to_string(c.cols) + " inner " +
         std::to_string(c.inner) + (c.transposed ? " B^T" : " B") + " alpha " +
         std::to_string(c.alpha) + (c.accumulate ? " +=" : " =");
}

// Runs gemm_f32 on random data with padded leading dimensions and checks every element against
// the double sum, tolerance 1e-5 * (sum_k |x| |B| + |y0|). Returns the number of mismatches
// (the first few are printed).
int check_case(const Case& c, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int ldx = c.inner + 3, ldy = c.cols + 5, ldb = (c.transposed ? c.inner : c.cols) + 2;
  std::vector<float> x(static_cast<std::size_t>(c.rows) * ldx),
      b(static_cast<std::size_t>(c.transposed ? c.cols : c.inner) * ldb),
      y(static_cast<std::size_t>(c.rows) * ldy);
  for (float& v : x) v = nd(rng);
  for (float& v : b) v = nd(rng) * 0.1f;
  for (float& v : y) v = nd(rng);
  const std::vector<float> y0 = y;
  std::vector<float> scratch(gemm_f32_scratch_size({c.rows, c.cols, c.inner}));
  gemm_f32({c.rows, c.cols, c.inner}, x.data(), ldx, {b.data(), ldb, c.transposed}, y.data(), ldy,
           scratch, c.alpha, c.accumulate);
  int bad = 0;
  for (int i = 0; i < c.rows; ++i) {
    for (int j = 0; j < ldy; ++j) {
      const std::size_t at = static_cast<std::size_t>(i) * ldy + j;
      if (j >= c.cols) {  // padding between rows is never written
        if (y[at] != y0[at]) ++bad;
        continue;
      }
      double sum = 0.0, mag = 0.0;
      for (int k = 0; k < c.inner; ++k) {
        const double bk = c.transposed ? b[static_cast<std::size_t>(j) * ldb + k]
                                       : b[static_cast<std::size_t>(k) * ldb + j];
        sum += static_cast<double>(x[static_cast<std::size_t>(i) * ldx + k]) * bk;
        mag += std::abs(x[static_cast<std::size_t>(i) * ldx + k] * bk);
      }
      const double want = c.alpha * sum + (c.accumulate ? y0[at] : 0.0);
      const double tol = 1e-5 * (std::abs(c.alpha) * mag + std::abs(y0[at])) + 1e-30;
      if (std::abs(y[at] - want) > tol) {
        if (++bad <= 5) {
          std::printf("mismatch %s at (%d, %d): got %.9g, want %.9g, tol %.3g\n",
                      describe(c).c_str(), i, j, y[at], want, tol);
        }
      }
    }
  }
  return bad;
}

TEST(GemmF32, MatchesDoubleReferenceOnEdgeShapes) {
  std::mt19937 rng(5);
  std::vector<Case> cases;
  // Every microkernel row count (1..12) and a second row block, columns around panel edges.
  for (int rows : {1, 2, 5, 11, 12, 13, 95, 96, 97, 200}) {
    for (int cols : {1, 15, 16, 17, 31, 32, 33, 100}) {
      cases.push_back({rows, cols, 7 + rows % 5, (rows + cols) % 2 == 1, 1.0f, false});
    }
  }
  // K blocks: below, at and above one block, uneven splits; alpha and accumulate.
  for (int inner : {1, 383, 384, 385, 768, 1000, 3072}) {
    cases.push_back({37, 70, inner, false, 1.0f, false});
    cases.push_back({37, 70, inner, true, 0.125f, true});
  }
  // More than one 4096-column block of B.
  cases.push_back({14, 4096 + 40, 20, false, 1.0f, false});
  cases.push_back({14, 4096 + 40, 20, true, -2.0f, true});
  for (const Case& c : cases) {
    EXPECT_EQ(check_case(c, rng), 0) << describe(c);
  }
}

TEST(GemmF32, AgreesWithOpenBlasOnForwardShapes) {
  // The shapes of a GPT-2-small-like layer (scaled down in rows) and of the attention tiles.
  const Case shapes[] = {{130, 2304, 768, false, 1.0f, false},
                         {130, 768, 3072, false, 1.0f, false},
                         {130, 3072, 768, true, 1.0f, false},
                         {128, 300, 64, true, 0.125f, false},
                         {128, 64, 300, false, 1.0f, false}};
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const Case& c : shapes) {
    const int ldb = c.transposed ? c.inner : c.cols;
    std::vector<float> x(static_cast<std::size_t>(c.rows) * c.inner),
        b(static_cast<std::size_t>(c.inner) * c.cols);
    for (float& v : x) v = nd(rng);
    for (float& v : b) v = nd(rng) * 0.05f;
    std::vector<float> got(static_cast<std::size_t>(c.rows) * c.cols), want(got.size());
    std::vector<float> scratch(gemm_f32_scratch_size({c.rows, c.cols, c.inner}));
    gemm_f32({c.rows, c.cols, c.inner}, x.data(), c.inner, {b.data(), ldb, c.transposed},
             got.data(), c.cols, scratch, c.alpha);
    gemm_f32_blas({c.rows, c.cols, c.inner}, x.data(), c.inner, {b.data(), ldb, c.transposed},
                  want.data(), c.cols, c.alpha);
    double max_diff = 0.0, max_ref = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(got[i] - want[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::abs(want[i])));
    }
    EXPECT_LT(max_diff, 2e-6 * max_ref) << describe(c);
  }
}

TEST(GemmF32, RowsAreIndependentOfTheOtherRows) {
  // A row's result is bitwise the same computed alone, in a block, or at another row offset:
  // the forward's batch independence rests on it.
  const int rows = 50, cols = 70, inner = 900;
  std::mt19937 rng(13);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(rows) * inner),
      b(static_cast<std::size_t>(inner) * cols);
  for (float& v : x) v = nd(rng);
  for (float& v : b) v = nd(rng);
  std::vector<float> all(static_cast<std::size_t>(rows) * cols), one(cols);
  std::vector<float> scratch(gemm_f32_scratch_size({rows, cols, inner}));
  gemm_f32({rows, cols, inner}, x.data(), inner, {b.data(), cols}, all.data(), cols, scratch);
  for (int i : {0, 11, 12, 49}) {
    gemm_f32({1, cols, inner}, x.data() + static_cast<std::size_t>(i) * inner, inner,
             {b.data(), cols}, one.data(), cols, scratch);
    for (int j = 0; j < cols; ++j) {
      ASSERT_EQ(one[j], all[static_cast<std::size_t>(i) * cols + j]) << "row " << i << " col " << j;
    }
  }
}

TEST(GemmF32, PackedRhsGivesTheSameResultsAsUnpacked) {
  // Attention keys [T, dh] packed once as B = K^T, then column slices from multiples of 32.
  const int t = 300, dh = 40, rows = 29;
  if (!gemm_f32_packed_supported(dh)) GTEST_SKIP() << "no AVX-512F: gemm_f32_packed unused";
  std::mt19937 rng(17);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int ld = dh + 8;
  std::vector<float> keys(static_cast<std::size_t>(t) * ld), x(static_cast<std::size_t>(rows) * dh);
  for (float& v : keys) v = nd(rng);
  for (float& v : x) v = nd(rng);
  std::vector<float> packed(gemm_f32_packed_rhs_size(dh, t));
  gemm_f32_pack_rhs(dh, t, {keys.data(), ld, true}, packed);
  std::vector<float> scratch(gemm_f32_scratch_size({rows, t, dh}));
  for (const auto& [col0, cols] : {std::pair{0, 300}, std::pair{32, 268}, std::pair{96, 40},
                                   std::pair{288, 12}, std::pair{0, 1}}) {
    std::vector<float> got(static_cast<std::size_t>(rows) * cols), want(got.size());
    gemm_f32_packed({rows, cols, dh}, x.data(), dh, packed, t, col0, got.data(), cols, scratch,
                    0.5f);
    gemm_f32({rows, cols, dh}, x.data(), dh,
             {keys.data() + static_cast<std::size_t>(col0) * ld, ld, true}, want.data(), cols,
             scratch, 0.5f);
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "columns from " << col0 << ", element " << i;
    }
  }
  std::vector<float> y(64);
  EXPECT_THROW(gemm_f32_packed({1, 8, dh}, x.data(), dh, packed, t, 16, y.data(), 8, scratch),
               Error);  // not a multiple of 32
  EXPECT_THROW(gemm_f32_packed({1, 40, dh}, x.data(), dh, packed, t, 288, y.data(), 40, scratch),
               Error);  // past the packed columns
  EXPECT_FALSE(gemm_f32_packed_supported(kGemmPackedMaxInner + 1));
}

TEST(GemmF32, ScratchSizeNeverShrinksAsTheShapeGrows) {
  for (int inner = 1; inner <= 2000; inner += 7) {
    EXPECT_LE(gemm_f32_scratch_size({128, 512, inner}), gemm_f32_scratch_size({128, 512, 2000}))
        << inner;
  }
  EXPECT_LE(gemm_f32_scratch_size({13, 100, 64}), gemm_f32_scratch_size({128, 100, 64}));
  EXPECT_LE(gemm_f32_scratch_size({13, 100, 64}), gemm_f32_scratch_size({13, 9000, 64}));
  EXPECT_EQ(gemm_f32_scratch_size({0, 100, 64}), 0u);
}

TEST(GemmF32, BadArgumentsAreClearErrors) {
  std::vector<float> x(64, 1.0f), b(64, 1.0f), y(64, 0.0f);
  auto message = [&](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  if (f32_avx512_supported()) {
    const std::string small = message([&] {
      std::vector<float> scratch(1);
      gemm_f32({4, 4, 4}, x.data(), 4, {b.data(), 4}, y.data(), 4, scratch);
    });
    EXPECT_NE(small.find("gemm_f32_scratch_size"), std::string::npos) << small;
  }
  const std::string bad_ld = message([&] {
    gemm_f32({4, 8, 4}, x.data(), 4, {b.data(), 4}, y.data(), 8, {});
  });
  EXPECT_NE(bad_ld.find("ldb 4"), std::string::npos) << bad_ld;
  const std::string negative = message([&] {
    gemm_f32({-1, 4, 4}, x.data(), 4, {b.data(), 4}, y.data(), 4, {});
  });
  EXPECT_NE(negative.find("rows -1"), std::string::npos) << negative;
  // Zero rows or columns: nothing to do, no scratch needed.
  EXPECT_NO_THROW(gemm_f32({0, 4, 4}, x.data(), 4, {b.data(), 4}, y.data(), 4, {}));
}

}  // namespace
}  // namespace neurolens::model
