// Corpus file bytes — reading the files of a corpus (internal to io/: io/corpus.cpp,
// io/token_file.cpp).
// Owns: Fd (an open file read with pread, the bytes it reads counted into the corpus's
// counter), whether a path is a regular file, and ByteSource: a file's content, plain (from a
// byte offset) or decompressed (gzip members, zstd frames), a chunk at a time, with the errors of
// a truncated, corrupt or shrunk file.
// Example:
//   std::unique_ptr<ByteSource> src = gzip_source(path, Fd(path).size(), &counter);
//   std::string buf;
//   while (src->fill(buf)) { ... }   // buf grows by up to kChunk bytes a call
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "io/error.hpp"

namespace neurolens::io::detail {
namespace fs = std::filesystem;

constexpr size_t kChunk = size_t{1} << 20;  // bytes read (or decompressed) at a time
constexpr size_t kHead = size_t{64} << 10;  // bytes read to detect a file's format
const char* const kModifiedHint = "do not modify corpus files during a run";

using Counter = std::atomic<uint64_t>;

// An open file descriptor, closed on scope exit; counts the bytes it reads into `counter`.
class Fd {
 public:
  explicit Fd(const fs::path& path, Counter* counter = nullptr) : path_(path), counter_(counter) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      throw Error(path.string(), std::string("cannot open: ") + std::strerror(errno),
                  "check that the file exists and is readable");
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }

  // Reads up to `length` bytes at `offset` into `out`; fewer only at end of file.
  size_t read_into(char* out, size_t length, uint64_t offset) const {
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, out + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(
            path_.string(),
            "read failed at byte " + std::to_string(offset + done) + ": " + std::strerror(errno),
            "check the file system and that the file is not being modified");
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    if (counter_ != nullptr) counter_->fetch_add(done);
    return done;
  }

  std::string read(uint64_t offset, size_t length) const {
    std::string out(length, '\0');
    out.resize(read_into(out.data(), length, offset));
    return out;
  }

  uint64_t size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      throw Error(path_.string(), std::string("cannot stat: ") + std::strerror(errno),
                  "check that the file is readable");
    }
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  fs::path path_;
  Counter* counter_ = nullptr;
  int fd_ = -1;
};

// "the file is shorter than when the corpus was opened (now < then bytes)".
std::string shrunk_problem(uint64_t now, uint64_t then);

// Whether p is a regular file (following symlinks); false on any error.
bool is_regular(const fs::path& p);

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Appends the next bytes to `buf`; false at the end of the content.
  virtual bool fill(std::string& buf) = 0;
  // Plain files: the file ended before the size it had when the corpus was opened.
  virtual bool shrunk() const { return false; }
  virtual uint64_t position() const = 0;  // bytes of content (plain: file offset) delivered
};

// [from, size) of a plain file, in chunks of up to kChunk up to `stop`, then kHead at a time
// (past the end of a segment only its last line is needed).
std::unique_ptr<ByteSource> plain_source(const fs::path& path, uint64_t from, uint64_t stop,
                                         uint64_t size, Counter* counter);
// gzip (and zlib) streams, any number of concatenated members.
std::unique_ptr<ByteSource> gzip_source(const fs::path& path, uint64_t size, Counter* counter);
// zstd streams, any number of frames (skippable frames included).
std::unique_ptr<ByteSource> zstd_source(const fs::path& path, uint64_t size, Counter* counter);

}  // namespace neurolens::io::detail
