#include "model/load/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "io/error.hpp"

namespace neurolens::model {

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(path.string(), std::string("cannot open: ") + std::strerror(err),
                "check that the file exists and is readable");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path.string(), "not a regular file", "point at the checkpoint's files");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw Error(path.string(), std::string("cannot memory-map: ") + std::strerror(err),
                  "check the file system supports mmap and that address space is available");
    }
    data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid after close
}

MappedFile::MappedFile(const std::filesystem::path& path, std::span<const std::byte> bytes,
                       std::shared_ptr<const void> owner)
    : path_(path),
      data_(bytes.empty() ? nullptr : bytes.data()),
      size_(bytes.size()),
      owner_(std::move(owner)) {}

MappedFile::~MappedFile() {
  release();
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      owner_(std::move(other.owner_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owner_ = std::move(other.owner_);
  }
  return *this;
}

void MappedFile::release() noexcept {
  if (data_ != nullptr && !owner_) ::munmap(const_cast<std::byte*>(data_), size_);
  owner_.reset();
  data_ = nullptr;
  size_ = 0;
}

}  // namespace neurolens::model
