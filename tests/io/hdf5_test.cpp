#include "io/hdf5.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>

#include "io/error.hpp"

namespace fs = std::filesystem;
using neurolens::Error;
using namespace neurolens::io;

namespace {
fs::path temp_file(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("neurolens_io_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST(Hdf5, WritesAndReadsDatasetsAttributesAndScales) {
  const fs::path path = temp_file("serial.h5");
  {
    H5File f = H5File::create(path);
    std::vector<float> values(2 * 3);
    std::iota(values.begin(), values.end(), 0.5f);
    H5Dataset d = f.create_dataset("/mlp.hook_pre/t", H5Type::F32, {2, 3});
    d.write_all(values.data());
    std::vector<int64_t> layers = {4, 7};
    H5Dataset l = f.create_dataset("/mlp.hook_pre/layer", H5Type::I64, {2});
    l.write_all(layers.data());
    l.make_dimension_scale("layer");
    d.attach_scale(l, 0);
    d.label_dimension(1, "neuron");
    f.set_attribute("/", "study", std::string("contrast"));
    f.set_attribute("/", "n_ranks", int64_t{3});
    f.set_attribute("/mlp.hook_pre", "alpha", 0.05);
    f.close();
  }
  H5File r = H5File::open_read_only(path);
  EXPECT_EQ(r.string_attribute("/", "study"), "contrast");
  EXPECT_EQ(r.number_attribute("/", "n_ranks"), 3.0);
  EXPECT_DOUBLE_EQ(r.number_attribute("/mlp.hook_pre", "alpha"), 0.05);
  H5Dataset d = r.open_dataset("/mlp.hook_pre/t");
  ASSERT_EQ(d.dims(), (std::vector<hsize_t>{2, 3}));
  EXPECT_EQ(d.type(), H5Type::F32);
  std::vector<float> back = d.read_f32();
  for (size_t i = 0; i < back.size(); ++i) EXPECT_FLOAT_EQ(back[i], 0.5f + static_cast<float>(i));
  EXPECT_EQ(r.open_dataset("/mlp.hook_pre/layer").read_i64(), (std::vector<int64_t>{4, 7}));
  EXPECT_TRUE(r.exists("/mlp.hook_pre/t"));
  EXPECT_FALSE(r.exists("/mlp.hook_pre/nope"));
  EXPECT_FALSE(r.exists("/missing/group/x"));
  auto names = r.list("/mlp.hook_pre");
  EXPECT_EQ(names, (std::vector<std::string>{"layer", "t"}));
  fs::remove(path);
}

TEST(Hdf5, WritesBlocksAndRejectsOutOfRangeBlocks) {
  const fs::path path = temp_file("blocks.h5");
  H5File f = H5File::create(path);
  H5Dataset d = f.create_dataset("x", H5Type::F64, {2, 4});
  const double left[] = {1, 2, 5, 6};
  const double right[] = {3, 4, 7, 8};
  const hsize_t count[] = {2, 2};
  const hsize_t off_left[] = {0, 0};
  const hsize_t off_right[] = {0, 2};
  d.write_block(off_left, count, left);
  d.write_block(off_right, count, right);
  const hsize_t bad_off[] = {0, 3};
  EXPECT_THROW(d.write_block(bad_off, count, right), Error);
  f.close();
  H5File r = H5File::open_read_only(path);
  EXPECT_EQ(r.open_dataset("x").read_f64(), (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(Hdf5, ReadsBlocksOfA3DDatasetAndRejectsOutOfRangeBlocks) {
  const fs::path path = temp_file("read_blocks.h5");
  H5File f = H5File::create(path);
  H5Dataset d = f.create_dataset("x", H5Type::I32, {2, 3, 2});
  std::vector<int32_t> all(12);
  std::iota(all.begin(), all.end(), 0);
  d.write_all(all.data());
  f.close();
  H5File r = H5File::open_read_only(path);
  H5Dataset x = r.open_dataset("x");
  const hsize_t offset[] = {1, 0, 0};
  const hsize_t count[] = {1, 3, 2};
  std::vector<double> row(6);
  x.read_block(offset, count, H5Type::F64, row.data());
  EXPECT_EQ(row, (std::vector<double>{6, 7, 8, 9, 10, 11}));
  const hsize_t bad_offset[] = {2, 0, 0};
  EXPECT_THROW(x.read_block(bad_offset, count, H5Type::F64, row.data()), Error);
  const hsize_t short_count[] = {1, 3};
  EXPECT_THROW(x.read_block(offset, short_count, H5Type::F64, row.data()), Error);
  fs::remove(path);
}

TEST(Hdf5, ErrorsNameTheFile) {
  try {
    H5File::open_read_only("/nonexistent/dir/results.h5");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/results.h5"), std::string::npos);
  }
  const fs::path junk = temp_file("junk.h5");
  {
    FILE* f = std::fopen(junk.c_str(), "w");
    std::fputs("not hdf5", f);
    std::fclose(f);
  }
  try {
    H5File::open_read_only(junk);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable HDF5 file"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(H5File::create("/nonexistent/dir/x.h5"), Error);
}

TEST(Hdf5, FlatRangesCoverA2DDatasetInRowMajorOrder) {
  const fs::path path = temp_file("flat.h5");
  const hsize_t rows = 3, cols = 5;
  {
    H5File f = H5File::create(path);
    H5Dataset d = f.create_dataset("x", H5Type::F64, {rows, cols});
    // Uneven pieces: partial row, several rows, partial rows, single element.
    const std::vector<std::pair<hsize_t, hsize_t>> pieces = {{0, 3}, {3, 9}, {12, 1}, {13, 2}};
    for (auto [begin, count] : pieces) {
      std::vector<double> values(count);
      for (hsize_t i = 0; i < count; ++i) values[i] = static_cast<double>(begin + i);
      d.write_flat_range(begin, count, values.data());
    }
    EXPECT_THROW(d.write_flat_range(14, 2, std::vector<double>(2).data()), Error);
    f.close();
  }
  H5File r = H5File::open_read_only(path);
  std::vector<double> all = r.open_dataset("x").read_f64();
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<double>(i)) << i;
}

TEST(Hdf5, ChunkedDatasetsGrowRowByRow) {
  const fs::path path = temp_file("chunked.h5");
  {
    H5File f = H5File::create(path);
    H5Dataset d = f.create_chunked_dataset("/x", H5Type::I32, {0, 3}, {2, 3});
    EXPECT_EQ(d.dims(), (std::vector<hsize_t>{0, 3}));
    for (int round = 0; round < 3; ++round) {
      d.set_rows(static_cast<hsize_t>(2 * round + 2));
      const std::vector<int32_t> rows = {6 * round,     6 * round + 1, 6 * round + 2,
                                         6 * round + 3, 6 * round + 4, 6 * round + 5};
      const hsize_t offset[] = {static_cast<hsize_t>(2 * round), 0}, count[] = {2, 3};
      d.write_block(offset, count, rows.data());
    }
    EXPECT_EQ(d.dims(), (std::vector<hsize_t>{6, 3}));
    EXPECT_THROW(f.create_chunked_dataset("/bad", H5Type::I32, {0, 3}, {1, 4}), Error);
    f.close();
  }
  H5File r = H5File::open_read_only(path);
  const std::vector<int64_t> all = r.open_dataset("/x").read_i64();
  ASSERT_EQ(all.size(), 18u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i));
}

TEST(Hdf5, SixteenBitFloatsReadBackAsTheirValues) {
  const fs::path path = temp_file("half.h5");
  // f16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), -0, inf.
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  const std::vector<float> f16_values = {1.0f, -2.0f, 65504.0f, 0x1p-24f, -0.0f, INFINITY};
  // bf16: 1, 3.140625, -2^100, 2^-133 (subnormal), 1.0078125.
  const std::vector<uint16_t> bf16 = {0x3F80, 0x4049, 0xF180, 0x0001, 0x3F81};
  const std::vector<float> bf16_values = {1.0f, 3.140625f, -0x1p100f, 0x1p-133f, 1.0078125f};
  {
    H5File f = H5File::create(path);
    f.create_dataset("/h", H5Type::F16, {f16.size()}).write_all(f16.data());
    f.create_chunked_dataset("/b", H5Type::BF16, {bf16.size()}, {2}).write_all(bf16.data());
    f.close();
  }
  H5File r = H5File::open_read_only(path);
  EXPECT_EQ(r.open_dataset("/h").type(), H5Type::F16);
  EXPECT_EQ(r.open_dataset("/b").type(), H5Type::BF16);
  const std::vector<float> h = r.open_dataset("/h").read_f32();
  const std::vector<float> b = r.open_dataset("/b").read_f32();
  ASSERT_EQ(h.size(), f16_values.size());
  ASSERT_EQ(b.size(), bf16_values.size());
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h[i], f16_values[i]) << i;
    EXPECT_EQ(std::signbit(h[i]), std::signbit(f16_values[i])) << i;
  }
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i], bf16_values[i]) << i;
  std::vector<uint16_t> raw(f16.size());
  r.open_dataset("/h").read_all(H5Type::F16, raw.data());
  EXPECT_EQ(raw, f16);
}
