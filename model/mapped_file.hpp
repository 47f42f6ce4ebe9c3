// MappedFile — a whole file memory-mapped read-only (PROT_READ, MAP_SHARED).
// Owns: the mapping's lifetime (RAII, move-only). Ranks on one node that map the same checkpoint
// share its pages through the page cache. An empty file maps to size() == 0, data() == nullptr.
// Example:
//   MappedFile f("model.safetensors");
//   std::span<const std::byte> all = f.bytes();
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace neurolens::model {

class MappedFile {
 public:
  // Throws neurolens::Error naming the path when it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release() noexcept;

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace neurolens::model
