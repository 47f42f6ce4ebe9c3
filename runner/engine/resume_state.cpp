#include "runner/engine/resume_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "io/error.hpp"

namespace neurolens::runner {
namespace {

constexpr char kMagic[8] = {'N', 'L', 'C', 'K', 'P', 'T', '0', '1'};

struct Header {
  char magic[8];
  uint64_t job_hash;
  int32_t n_ranks;
  int32_t rank;
  int64_t batches_done;
  uint64_t n_values;
  uint64_t checksum;  // of the values
};

void write_atomically(const std::filesystem::path& path, const Header& header,
                      const std::vector<double>& values) {
  const std::filesystem::path temp = path.string() + ".tmp";
  const int fd = ::open(temp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(temp.string(), std::string("cannot write checkpoint: ") + std::strerror(errno),
                "check that the checkpoint directory is writable and has space");
  }
  auto write_all = [&](const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd, p, bytes);
      if (n < 0) {
        const int saved = errno;
        ::close(fd);
        std::filesystem::remove(temp);
        throw Error(temp.string(), std::string("cannot write checkpoint: ") + std::strerror(saved),
                    "free disk space or choose another checkpoint path");
      }
      p += n;
      bytes -= static_cast<size_t>(n);
    }
  };
  write_all(&header, sizeof header);
  write_all(values.data(), values.size() * sizeof(double));
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::filesystem::remove(temp);
    throw Error(temp.string(), std::string("cannot write checkpoint: ") + std::strerror(errno),
                "free disk space or choose another checkpoint path");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    throw Error(path.string(), std::string("cannot rename checkpoint: ") + std::strerror(errno));
  }
}

}  // namespace

uint64_t fnv1a(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

ResumeState::ResumeState(const Job& job, const Comm& comm)
    : comm_(comm), dir_(job.checkpoint), job_hash_(fnv1a(job.text.data(), job.text.size())) {}

std::filesystem::path ResumeState::rank_file(int64_t generation, int rank) const {
  return dir_ / ("rank-" + std::to_string(rank) + ".gen-" + std::to_string(generation) + ".bin");
}

void ResumeState::save(int64_t batches_done, const std::vector<double>& state) {
  collective_check(comm_, [&] {
    if (comm_.root()) {
      std::error_code ec;
      std::filesystem::create_directories(dir_, ec);
      if (ec) {
        throw Error(dir_.string(), "cannot create the checkpoint directory: " + ec.message(),
                    "set the job key checkpoint to a writable path");
      }
    }
  });
  collective_check(comm_, [&] {
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.job_hash = job_hash_;
    h.n_ranks = comm_.size();
    h.rank = comm_.rank();
    h.batches_done = batches_done;
    h.n_values = state.size();
    h.checksum = fnv1a(state.data(), state.size() * sizeof(double));
    write_atomically(rank_file(batches_done, comm_.rank()), h, state);
  });
  // Every rank has its file: this generation becomes the current one.
  collective_check(comm_, [&] {
    if (!comm_.root()) return;
    const std::filesystem::path manifest = dir_ / "latest";
    const std::filesystem::path temp = dir_ / "latest.tmp";
    {
      std::ofstream out(temp);
      out << batches_done << " " << comm_.size() << " " << job_hash_ << "\n";
      out.flush();
      if (!out)
        throw Error(temp.string(), "cannot write the checkpoint manifest", "free disk space");
    }
    std::filesystem::rename(temp, manifest);
  });
  // Older generations of this rank are no longer needed.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "rank-" + std::to_string(comm_.rank()) + ".gen-";
    if (name.rfind(prefix, 0) == 0 &&
        name != rank_file(batches_done, comm_.rank()).filename().string()) {
      std::error_code ec;
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

std::vector<double> ResumeState::load(int64_t& batches_done) {
  std::vector<double> state;
  collective_check(comm_, [&] {
    const std::filesystem::path manifest = dir_ / "latest";
    std::ifstream in(manifest);
    if (!in) {
      throw Error(manifest.string(), "no checkpoint to resume from",
                  "run without --resume to start from the beginning");
    }
    int64_t generation = -1;
    int ranks = 0;
    uint64_t hash = 0;
    if (!(in >> generation >> ranks >> hash) || generation < 0) {
      throw Error(manifest.string(), "the checkpoint manifest is corrupt",
                  "delete " + dir_.string() + " and run without --resume");
    }
    if (ranks != comm_.size()) {
      throw Error(manifest.string(),
                  "the checkpoint was written by " + std::to_string(ranks) +
                      " ranks, this run has " + std::to_string(comm_.size()),
                  "resume with mpirun -n " + std::to_string(ranks));
    }
    if (hash != job_hash_) {
      throw Error(manifest.string(), "the checkpoint belongs to a different job",
                  "resume with the same job file and overrides, or delete " + dir_.string());
    }
    const std::filesystem::path file = rank_file(generation, comm_.rank());
    std::ifstream data(file, std::ios::binary);
    Header h{};
    if (!data || !data.read(reinterpret_cast<char*>(&h), sizeof h) ||
        std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
      throw Error(file.string(), "missing or not a neurolens checkpoint file",
                  "delete " + dir_.string() + " and run without --resume");
    }
    if (h.job_hash != job_hash_ || h.n_ranks != comm_.size() || h.rank != comm_.rank() ||
        h.batches_done != generation) {
      throw Error(file.string(), "checkpoint file does not match this job and rank",
                  "delete " + dir_.string() + " and run without --resume");
    }
    const auto size = std::filesystem::file_size(file);
    if (h.n_values > (size - sizeof h) / sizeof(double) ||
        size != sizeof h + h.n_values * sizeof(double)) {
      throw Error(file.string(), "checkpoint file is truncated",
                  "delete " + dir_.string() + " and run without --resume");
    }
    state.resize(h.n_values);
    data.read(reinterpret_cast<char*>(state.data()),
              static_cast<std::streamsize>(state.size() * sizeof(double)));
    if (!data || fnv1a(state.data(), state.size() * sizeof(double)) != h.checksum) {
      throw Error(file.string(), "checkpoint file is corrupt (checksum mismatch)",
                  "delete " + dir_.string() + " and run without --resume");
    }
    batches_done = generation;
  });
  return state;
}

void ResumeState::remove() {
  comm_.barrier();
  if (comm_.root()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace neurolens::runner
