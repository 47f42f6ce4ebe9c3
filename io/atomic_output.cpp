#include "io/atomic_output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "io/error.hpp"

namespace neurolens::io {
namespace {

std::string random_token() {
  std::random_device device;
  const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 12; ++i) out += digits[device() % 16];
  return out;
}

void fsync_path(const std::filesystem::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return;
  const int status = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (status != 0 && saved != EINVAL && saved != EROFS) {
    throw Error(path.string(), std::string("fsync failed: ") + std::strerror(saved),
                "check the file system (disk full or read-only?)");
  }
}

}  // namespace

void require_writable_directory(const std::filesystem::path& dir, const std::string& field) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(d, ec)) {
    throw Error(field, "directory " + d.string() + " does not exist",
                "create it first (mkdir -p " + d.string() + ") or choose another path");
  }
  if (::access(d.c_str(), W_OK) != 0) {
    throw Error(field, "directory " + d.string() + " is not writable",
                "choose a directory you can write to");
  }
}

AtomicOutput::AtomicOutput(std::filesystem::path target, bool overwrite, std::string token,
                           bool owner)
    : target_(std::move(target)), owner_(owner) {
  const std::filesystem::path dir = target_.parent_path();
  if (target_.filename().empty()) {
    throw Error(target_.string(), "output path names a directory, not a file",
                "give a file name such as results.h5");
  }
  if (token.empty()) token = random_token();
  // Hidden names beside the target (same file system, so the final rename is atomic).
  std::string hidden = ".";
  hidden += target_.filename().string();
  const std::filesystem::path base = dir.empty() ? std::filesystem::path(".") : dir;
  temp_ = base / (hidden + ".partial-" + token);
  lock_path_ = base / (hidden + ".lock");
  if (!owner_) return;
  require_writable_directory(dir, target_.string());
  std::error_code ec;
  if (std::filesystem::exists(target_, ec) && !overwrite) {
    throw Error(target_.string(), "output file already exists",
                "pass --overwrite to replace it, or choose another output path");
  }
  lock_fd_ = ::open(lock_path_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    throw Error(lock_path_.string(),
                std::string("cannot create lock file: ") + std::strerror(errno),
                "check that the output directory is writable");
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw Error(target_.string(), "another neurolens job is writing this output right now",
                "wait for it to finish or choose another output path");
  }
  // Holding the lock, no other job writes this target: temporaries left by a killed run of an
  // earlier job (its process could not clean up) are removed.
  const std::string stale_prefix = hidden + ".partial-";
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(stale_prefix, 0) == 0 && entry.path() != temp_) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) abandon();
  if (lock_fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
  }
}

void AtomicOutput::abandon() noexcept {
  if (!owner_) return;
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
}

void AtomicOutput::commit() {
  if (committed_) return;
  if (owner_) {
    std::error_code ec;
    if (!std::filesystem::exists(temp_, ec)) {
      throw Error(target_.string(), "nothing was written to the temporary file " + temp_.string());
    }
    fsync_path(temp_, false);
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      throw Error(target_.string(), std::string("rename failed: ") + std::strerror(errno),
                  "check that the output directory is writable");
    }
    fsync_path(target_.parent_path().empty() ? "." : target_.parent_path(), true);
  }
  committed_ = true;
}

}  // namespace neurolens::io
