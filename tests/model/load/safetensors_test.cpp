// safetensors reader/writer and f16/bf16 conversion.
#include "model/load/safetensors.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "io/error.hpp"
#include "model/ops/half.hpp"

namespace fs = std::filesystem;
using namespace neurolens::model;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const neurolens::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected neurolens::Error";
  return {};
}

fs::path temp_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("neurolens_st_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A file with a hand-written header (no padding) and data.
void write_raw(const fs::path& p, const std::string& header, const std::string& data,
               std::uint64_t header_len_override = 0) {
  std::ofstream out(p, std::ios::binary);
  const std::uint64_t n = header_len_override ? header_len_override : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
}

std::vector<std::byte> as_bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST(Half, F16KnownValues) {
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // tie between max and 2^16 -> even -> inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);         // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);         // tie -> even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);         // above the tie
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);         // 1.5 ulp: tie -> even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.0f, -24)), 0x03FF);      // largest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);      // rounds up to smallest normal
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie -> even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  const std::uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_TRUE(std::isnan(f16_to_f32(nan)));
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(Half, F16AllValuesRoundTripExactly) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(h & 0x7C00, 0x7C00u);
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << "h=" << h;
  }
}

TEST(Half, F16RoundsToNearest) {
  // For values between consecutive f16 numbers, the result is the nearer one.
  for (std::uint32_t h = 0x0000; h < 0x7BFF; h += 37) {
    const float lo = f16_to_f32(static_cast<std::uint16_t>(h));
    const float hi = f16_to_f32(static_cast<std::uint16_t>(h + 1));
    const float below_mid = lo + (hi - lo) * 0.49f;
    const float above_mid = lo + (hi - lo) * 0.51f;
    EXPECT_EQ(f32_to_f16(below_mid), h);
    EXPECT_EQ(f32_to_f16(above_mid), h + 1);
  }
}

TEST(Half, Bf16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload lies only in the low bits must not become inf.
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7F800001u)))));
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h);
  }
}

TEST(Safetensors, WriteReadRoundTrip) {
  const fs::path d = temp_dir("roundtrip");
  const std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<float> b = {0.1f, 0.2f, 65504.0f};
  const auto a_bytes = as_bytes(a);
  const auto b_bytes = encode_f32(b, DType::F16);
  const auto c_bytes = encode_f32(b, DType::BF16);
  write_safetensors(d / "x.safetensors", {{"a", DType::F32, {2, 3}, a_bytes},
                                          {"b", DType::F16, {3}, b_bytes},
                                          {"c", DType::BF16, {1, 3}, c_bytes}});
  // Header length is a multiple of 8 and starts with '{'.
  std::ifstream in(d / "x.safetensors", std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(in.get(), '{');

  SafetensorsFile f(d / "x.safetensors");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.tensors()[0].name, "a");  // data order = order given
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.tensors()[1].begin, f.tensors()[0].begin + 24);  // contiguous
  const TensorInfo* ta = f.find("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(to_f32(f, *ta), a);
  const auto rb = to_f32(f, *f.find("b"));
  const auto rc = to_f32(f, *f.find("c"));
  for (std::size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(rb[i], f16_to_f32(f32_to_f16(b[i])));
    EXPECT_EQ(rc[i], bf16_to_f32(f32_to_bf16(b[i])));
  }
  EXPECT_NE(rb[0], b[0]);  // 0.1 is not representable: rounding happened
  EXPECT_EQ(f.find("missing"), nullptr);
  fs::remove_all(d);
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  const fs::path d = temp_dir("scalar");
  const std::vector<float> s = {-1e4f};
  write_safetensors(d / "s.safetensors",
                    {{"scalar", DType::F32, {}, as_bytes(s)}, {"empty", DType::F32, {0, 4}, {}}});
  SafetensorsFile f(d / "s.safetensors");
  EXPECT_EQ(to_f32(f, *f.find("scalar")), s);
  EXPECT_EQ(f.find("empty")->nbytes, 0u);
  fs::remove_all(d);
}

struct BadCase {
  const char* label;
  std::string header;
  std::string data;
  std::uint64_t header_len_override;
  std::vector<std::string> expected;  // substrings of the error
};

TEST(Safetensors, BadFilesGiveOneLineErrorsNamingFileAndTensor) {
  const fs::path d = temp_dir("bad");
  const std::string eight(8, '\0');
  const std::vector<BadCase> cases = {
      {"invalid_json", "{\"w\": {\"dtype\": \"F32\", ", eight, 0, {"invalid JSON header"}},
      {"not_object", "[1, 2]    ", "", 0, {"not an object"}},
      {"header_beyond_file", "{}", "", 1000, {"header length 1000", "past the end"}},
      {"out_of_range",
       R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
       eight,
       0,
       {": w", "out of range", "truncated"}},
      {"size_mismatch",
       R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
       eight,
       0,
       {": w", "needs 12"}},
      {"offsets_reversed",
       R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})",
       eight,
       0,
       {": w", "out of range"}},
      {"overlap",
       R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
       eight,
       0,
       {": b", "overlaps tensor a"}},
      {"unknown_dtype",
       R"({"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}})",
       eight,
       0,
       {": w", "unknown dtype \"Q4\""}},
      {"negative_dim",
       R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
       eight,
       0,
       {": w", "negative"}},
      {"missing_offsets",
       R"({"w": {"dtype": "F32", "shape": [2]}})",
       eight,
       0,
       {": w", "data_offsets"}},
      {"huge_shape",
       R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})",
       eight,
       0,
       {": w", "2^64"}},
  };
  for (const auto& c : cases) {
    const fs::path p = d / (std::string(c.label) + ".safetensors");
    write_raw(p, c.header, c.data, c.header_len_override);
    const std::string msg = error_of([&] { SafetensorsFile f(p); });
    EXPECT_CONTAINS(msg, p.string()) << c.label;
    for (const auto& e : c.expected) EXPECT_CONTAINS(msg, e) << c.label;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.label;
  }
  // Shorter than the 8-byte length prefix.
  {
    const fs::path p = d / "tiny.safetensors";
    std::ofstream(p, std::ios::binary) << "abc";
    const std::string msg = error_of([&] { SafetensorsFile f(p); });
    EXPECT_CONTAINS(msg, p.string());
    EXPECT_CONTAINS(msg, "truncated");
  }
  // Missing file.
  {
    const std::string msg = error_of([&] { SafetensorsFile f(d / "absent.safetensors"); });
    EXPECT_CONTAINS(msg, "absent.safetensors");
    EXPECT_CONTAINS(msg, "cannot open");
  }
  // A known but non-float dtype reads fine but cannot be converted.
  {
    const fs::path p = d / "int.safetensors";
    write_raw(p, R"({"ids": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})", eight);
    SafetensorsFile f(p);
    const std::string msg = error_of([&] { to_f32(f, *f.find("ids")); });
    EXPECT_CONTAINS(msg, p.string() + ": ids");
    EXPECT_CONTAINS(msg, "I32");
  }
  fs::remove_all(d);
}

TEST(Safetensors, WriterRejectsInconsistentTensors) {
  const fs::path d = temp_dir("writer");
  const std::vector<float> v = {1, 2, 3};
  const auto bytes = as_bytes(v);
  const std::string msg = error_of([&] {
    write_safetensors(d / "w.safetensors", {{"w", DType::F32, {4}, bytes}});
  });
  EXPECT_CONTAINS(msg, "w.safetensors: w");
  const std::string dup = error_of([&] {
    write_safetensors(d / "w.safetensors",
                      {{"w", DType::F32, {3}, bytes}, {"w", DType::F32, {3}, bytes}});
  });
  EXPECT_CONTAINS(dup, "duplicate");
  fs::remove_all(d);
}

}  // namespace
