// CheckpointBlob — a study's resume state as raw bytes packed into the doubles of
// Accumulator::save_state (one length double, then the bytes), for state that is not naturally
// doubles (f16 activations, ids, counters): no conversion, no 4x growth.
// Example:
//   CheckpointBlob b;  b.put(vec);  b.put_value(count);  std::vector<double> s = b.to_doubles();
//   CheckpointBlob r = CheckpointBlob::from_doubles(s, "examples");  r.get(vec, true);
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "io/error.hpp"

namespace neurolens::runner {

struct CheckpointBlob {
  std::vector<uint8_t> bytes;
  size_t at = 0;
  std::string study;  // names the job in the mismatch error
  template <typename T>
  void put(const std::vector<T>& v) {
    put_value(static_cast<uint64_t>(v.size()));
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    bytes.insert(bytes.end(), p, p + v.size() * sizeof(T));
  }
  template <typename T>
  void put_value(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  template <typename T>
  T get_value() {
    T v{};
    need(sizeof(T));
    std::memcpy(&v, bytes.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  template <typename T>
  void get(std::vector<T>& v, bool exact_size) {
    const auto n = static_cast<size_t>(get_value<uint64_t>());
    if (exact_size && n != v.size()) mismatch();
    need(n * sizeof(T));
    v.resize(n);
    std::memcpy(v.data(), bytes.data() + at, n * sizeof(T));
    at += n * sizeof(T);
  }
  void need(size_t n) const {
    if (at + n > bytes.size()) mismatch();
  }
  [[noreturn]] void mismatch() const {
    throw Error("checkpoint", "does not match this " + study + " job", "start without --resume");
  }
  std::vector<double> to_doubles() const {
    std::vector<double> out(1 + (bytes.size() + 7) / 8, 0.0);
    out[0] = static_cast<double>(bytes.size());
    std::memcpy(out.data() + 1, bytes.data(), bytes.size());
    return out;
  }
  static CheckpointBlob from_doubles(std::span<const double> state, const std::string& study) {
    CheckpointBlob b;
    b.study = study;
    if (state.empty()) b.mismatch();
    const auto n = static_cast<size_t>(state[0]);
    if ((n + 7) / 8 + 1 != state.size()) b.mismatch();
    b.bytes.resize(n);
    std::memcpy(b.bytes.data(), state.data() + 1, n);
    return b;
  }
};

}  // namespace neurolens::runner
