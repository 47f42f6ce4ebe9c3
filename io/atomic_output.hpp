// AtomicOutput — an output file that appears at its path only once it is complete.
// Owns: the checks made before any compute (directory exists and is writable, target absent
// unless overwriting is allowed, no other job writing the same target), the temporary name
// beside the target that the writer fills, and the final fsync + rename. A run that fails or
// is killed leaves nothing at the target path; an unfinished temporary is removed on unwind.
// Example:
//   AtomicOutput out("results/neg.h5", /*overwrite=*/false);
//   write_everything(out.temp_path());
//   out.commit();   // fsync, rename(temp, target), fsync(dir)
#pragma once

#include <filesystem>
#include <string>

namespace neurolens::io {

class AtomicOutput {
 public:
  // `owner` false: another process (MPI rank 0) owns the lock and cleanup; this one only learns
  // the temporary name, which every rank must agree on (pass the same `token`).
  AtomicOutput(std::filesystem::path target, bool overwrite, std::string token = {},
               bool owner = true);
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  // Makes the finished temporary file durable and renames it to the target.
  void commit();
  // Removes the temporary file now (also done by the destructor unless committed).
  void abandon() noexcept;

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::filesystem::path lock_path_;
  int lock_fd_ = -1;
  bool owner_ = true;
  bool committed_ = false;
};

// Throws neurolens::Error when `dir` is missing or not writable (checked before any compute).
void require_writable_directory(const std::filesystem::path& dir, const std::string& field);

}  // namespace neurolens::io
