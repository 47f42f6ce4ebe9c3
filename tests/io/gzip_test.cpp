#include "io/gzip.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "io/error.hpp"

namespace fs = std::filesystem;

namespace {
fs::path temp_file(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("neurolens_gzip_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST(Gzip, RoundTripsTextAndEmptyFiles) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "{\"index\": \"" + std::to_string(i) + "\"}\n";
  const fs::path path = temp_file("batch-0.jsonl.gz");
  neurolens::io::write_gzip_file(path, text);
  EXPECT_LT(fs::file_size(path), text.size() / 4);
  EXPECT_EQ(neurolens::io::read_gzip_file(path), text);
  neurolens::io::write_gzip_file(path, "");
  EXPECT_EQ(neurolens::io::read_gzip_file(path), "");
  fs::remove_all(path.parent_path());
}

TEST(Gzip, TruncatedOrMissingFilesNameTheFile) {
  const fs::path path = temp_file("cut.gz");
  neurolens::io::write_gzip_file(path, std::string(10000, 'x') + "tail");
  fs::resize_file(path, fs::file_size(path) - 6);
  try {
    neurolens::io::read_gzip_file(path);
    ADD_FAILURE() << "no error for a truncated file";
  } catch (const neurolens::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(neurolens::io::read_gzip_file(path.parent_path() / "missing.gz"), neurolens::Error);
  fs::remove_all(path.parent_path());
}
