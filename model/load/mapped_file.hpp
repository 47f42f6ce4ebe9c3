// MappedFile — a whole file memory-mapped read-only (PROT_READ, MAP_SHARED), or a file's bytes
// that someone else already holds in memory (e.g. broadcast into node-shared memory by the runner).
// Owns: the mapping's lifetime (RAII, move-only), or a reference to the holder of borrowed bytes.
// Ranks on one node that map the same checkpoint share its pages through the page cache. An empty
// file maps to size() == 0, data() == nullptr.
// Example:
//   MappedFile f("model.safetensors");
//   std::span<const std::byte> all = f.bytes();
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

namespace neurolens::model {

class MappedFile {
 public:
  // Throws neurolens::Error naming the path when it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  // The bytes of `path` held elsewhere; `owner` keeps them alive (released with the last copy).
  MappedFile(const std::filesystem::path& path, std::span<const std::byte> bytes,
             std::shared_ptr<const void> owner);
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
  std::shared_ptr<const void> owner_;  // set for borrowed bytes (then nothing is unmapped)
};

}  // namespace neurolens::model
