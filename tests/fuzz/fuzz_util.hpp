// Shared helpers of the libFuzzer targets in tests/fuzz: a private scratch directory per process
// (on /dev/shm when present: the parsers read real files, as they do for users), writing the
// fuzz input to a file there, and splitting one input into several files.
// Contract of every target: bad input ends in neurolens::Error (caught here); any other
// exception, crash, hang, leak or sanitizer report is a finding (libFuzzer stops on it).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

// The entry point of a target: LLVMFuzzerTestOneInput in a fuzzer binary; a named function
// <name>_fuzz_one when the targets are compiled together into the regression test
// (tests/fuzz/regressions_test.cpp defines NEUROLENS_FUZZ_REPLAY).
#ifdef NEUROLENS_FUZZ_REPLAY
#define NEUROLENS_FUZZ_TARGET(name) int name##_fuzz_one(const std::uint8_t* data, std::size_t size)
#else
#define NEUROLENS_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace neurolens::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = "/dev/shm";
    if (!std::filesystem::is_directory(base)) base = std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("neurolens_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    // Removed at exit (a crash leaves it: it then holds the inputs that crashed).
    static struct Cleanup {
      std::filesystem::path p;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(p, ec);
      }
    } cleanup{d};
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  if (std::fclose(f) != 0) std::abort();
}

// Splits `input` at every occurrence of `sep` into at most `max_parts` parts (the last part
// keeps any further separators).
inline std::vector<std::string_view> split(std::string_view input, std::string_view sep,
                                           std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = input.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + sep.size());
  }
  parts.push_back(input);
  while (parts.size() < max_parts) parts.emplace_back();
  return parts;
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace neurolens::fuzz
