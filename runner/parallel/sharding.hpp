// Sharding — which rank does which part of a job. Pure functions of (rank, size), so they are
// tested without MPI.
// Owns: balanced contiguous blocks (windows, neurons), their offsets for MPI reduce-scatter,
// and the owner of an index. Blocks differ in size by at most one.
// Example:
//   Block mine = block_range(n_windows, rank, size);     // [begin, end)
//   std::vector<int64_t> offsets = block_offsets(n_neurons, size);   // size + 1 entries
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace neurolens::runner {

struct Block {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

inline Block block_range(int64_t total, int rank, int size) {
  const int64_t base = total / size;
  const int64_t extra = total % size;
  const int64_t begin = rank * base + (rank < extra ? rank : extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

inline std::vector<int64_t> block_offsets(int64_t total, int size) {
  std::vector<int64_t> offsets(static_cast<std::size_t>(size) + 1);
  for (int r = 0; r < size; ++r)
    offsets[static_cast<std::size_t>(r)] = block_range(total, r, size).begin;
  offsets[static_cast<std::size_t>(size)] = total;
  return offsets;
}

inline int block_owner(int64_t index, int64_t total, int size) {
  // Inverse of block_range: the first `extra` blocks hold base + 1 items.
  const int64_t base = total / size;
  const int64_t extra = total % size;
  const int64_t big = extra * (base + 1);
  if (index < big) return static_cast<int>(index / (base + 1));
  return static_cast<int>(extra + (index - big) / base);
}

}  // namespace neurolens::runner
