// Example lists — per neuron, the windows a dataset-examples study keeps (runner/studies/
// study_examples.cpp, docs/examples.md): bounded sorted lists (top-k by max, bottom-k by min,
// reservoirs by a seeded priority) with each entry's f16 activations, and one reference-counted
// store of the listed windows' tokens. Every order is total (ties: smaller window id), so the
// kept lists do not depend on the order windows arrive in, nor on how ranks merge them.
// Legend: K neurons, C a list's capacity, T tokens per window.
// Example:
//   Lists top;  top.reset(Order::Largest, K, 20, T);
//   const Entry e{max, position, window, splitmix64(seed ^ window)};
//   if (top.admits(k, e)) store.release(top.insert(k, e, [&](uint16_t* a) { ... }));
#pragma once

#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <span>

#include "runner/engine/plan.hpp"
#include "runner/parallel/mpi.hpp"

namespace neurolens::runner {

inline constexpr uint16_t kF16NaN = 0x7E00;  // an empty activation (special tokens, padding)

// The reservoirs' priority of a window: the same for every neuron and rank count.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// One kept window of one neuron.
struct Entry {
  float value = 0;
  int32_t position = -1;
  int64_t window = -1;  // -1: empty slot (always after the filled ones)
  uint64_t key = 0;     // reservoir priority
};
static_assert(sizeof(Entry) == 24);

enum class Order { Largest, Smallest, Priority };

inline bool before(Order order, const Entry& a, const Entry& b) {
  if (b.window < 0) return a.window >= 0;
  if (a.window < 0) return false;
  switch (order) {
    case Order::Largest:
      if (a.value != b.value) return a.value > b.value;
      break;
    case Order::Smallest:
      if (a.value != b.value) return a.value < b.value;
      break;
    case Order::Priority:
      if (a.key != b.key) return a.key < b.key;
      break;
  }
  return a.window < b.window;
}

// Per neuron a sorted list of at most `cap` entries with their activations [T] (f16 bits).
struct Lists {
  Order order = Order::Largest;
  size_t cap = 0, T = 0;
  std::vector<Entry> entries;  // [K, cap]
  std::vector<uint16_t> acts;  // [K, cap, T]
  std::vector<Entry> worst;    // [K] each list's last entry (contiguous: the quick reject)

  void reset(Order o, size_t k_neurons, size_t capacity, size_t t) {
    order = o;
    cap = capacity;
    T = t;
    entries.assign(k_neurons * cap, Entry{});
    acts.assign(k_neurons * cap * T, kF16NaN);
    worst.assign(k_neurons, Entry{});
  }
  // Would `e` enter neuron k's list?
  bool admits(size_t k, const Entry& e) const { return cap > 0 && before(order, e, worst[k]); }
  // Inserts (admits(k, e) must hold); returns the evicted window (-1: none). `fill` writes the
  // entry's T activations.
  template <typename Fill>
  int64_t insert(size_t k, const Entry& e, Fill&& fill) {
    Entry* list = entries.data() + k * cap;
    uint16_t* a = acts.data() + k * cap * T;
    const int64_t evicted = list[cap - 1].window;
    size_t j = cap - 1;
    while (j > 0 && before(order, e, list[j - 1])) {
      list[j] = list[j - 1];
      std::memcpy(a + j * T, a + (j - 1) * T, T * sizeof(uint16_t));
      --j;
    }
    list[j] = e;
    fill(a + j * T);
    worst[k] = list[cap - 1];
    return evicted;
  }
};

// The tokens and source of every window some list refers to, once each.
class WindowStore {
 public:
  struct Window {
    int64_t document = -1, start = 0;
    int64_t refs = 0;
    std::vector<int32_t> tokens;
  };
  void acquire(int64_t window, const WindowSpec& spec) {
    auto [it, fresh] = windows_.try_emplace(window);
    if (fresh) {
      it->second.document = spec.document;
      it->second.start = spec.start;
      it->second.tokens = spec.tokens;
    }
    ++it->second.refs;
  }
  void release(int64_t window) {
    if (window < 0) return;
    const auto it = windows_.find(window);
    if (it != windows_.end() && --it->second.refs <= 0) windows_.erase(it);
  }
  const Window* find(int64_t window) const {
    const auto it = windows_.find(window);
    return it == windows_.end() ? nullptr : &it->second;
  }
  std::unordered_map<int64_t, Window>& all() { return windows_; }
  const std::unordered_map<int64_t, Window>& all() const { return windows_; }

 private:
  std::unordered_map<int64_t, Window> windows_;
};

// A rank's neuron slice after merge_by_slice: its lists (same kinds and capacities, K = the
// slice) and the windows they refer to: `table` (window, document, start) triples and `tokens`
// [rows, T] (-1 padded), row_of[window] = the row.
struct MergedLists {
  std::vector<Lists> lists;
  std::vector<int64_t> table;
  std::vector<int32_t> tokens;
  std::unordered_map<int64_t, size_t> row_of;
};

// Collective. Sends every neuron's entries, activations and listed windows' tokens (each window
// once per destination) to the rank owning its slice (offsets: block_offsets(K, ranks)) and
// merges them with the lists' own orders, so the result is the same on any rank count. Frees
// `lists`' buffers as it goes.
MergedLists merge_by_slice(const Comm& comm, std::span<Lists> lists, const WindowStore& store,
                           const std::vector<int64_t>& offsets, size_t T);

}  // namespace neurolens::runner
