#include "runner/engine/sample_spill.hpp"

#include <cerrno>
#include <cstring>

#include "io/error.hpp"

namespace neurolens::runner {

SampleSpill::SampleSpill(const std::filesystem::path& output, int rank,
                         std::vector<int64_t> site_neurons)
    : site_neurons_(std::move(site_neurons)) {
  path_ = output;
  path_ += ".samples-rank" + std::to_string(rank) + ".tmp";
  file_ = std::fopen(path_.c_str(), "w+b");
  if (file_ == nullptr) {
    throw Error(path_.string(), std::string("cannot create the save_samples scratch file: ") +
                                    std::strerror(errno),
                "check that the output directory is writable and has room for the samples");
  }
}

SampleSpill::~SampleSpill() {
  if (file_ != nullptr) std::fclose(file_);
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void SampleSpill::append(int64_t first_sample, std::span<const Sample> samples,
                         const std::vector<std::vector<float>>& rows, int64_t window_offset) {
  const auto n = static_cast<int64_t>(samples.size());
  if (n == 0) return;
  std::vector<Meta> meta(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    meta[i] = {s.label, s.token, s.position, s.pair_id, s.window + window_offset};
  }
  const uint64_t at = bytes_;
  auto put = [&](const void* data, size_t bytes) {
    if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes) {
      throw Error(path_.string(), std::string("write failed: ") + std::strerror(errno),
                  "free disk space next to the output (save_samples spills there)");
    }
    bytes_ += bytes;
  };
  put(meta.data(), meta.size() * sizeof(Meta));
  for (size_t s = 0; s < rows.size(); ++s) {
    put(rows[s].data(), static_cast<size_t>(n * site_neurons_[s]) * sizeof(float));
  }
  if (!runs_.empty() && runs_.back().first + runs_.back().count == first_sample) {
    runs_.back().count += n;
    chunks_.back().push_back({n, at});
  } else {
    runs_.push_back({first_sample, n, at});
    chunks_.push_back({{n, at}});
  }
}

void SampleSpill::read_run(size_t i, std::vector<Meta>& meta,
                           std::vector<std::vector<float>>& rows) const {
  if (std::fflush(file_) != 0) {
    throw Error(path_.string(), std::string("flush failed: ") + std::strerror(errno),
                "free disk space next to the output");
  }
  meta.clear();
  rows.assign(site_neurons_.size(), {});
  for (const Chunk& c : chunks_[i]) {
    if (std::fseek(file_, static_cast<long>(c.offset), SEEK_SET) != 0) {
      throw Error(path_.string(), "seek failed", "check the scratch file's disk");
    }
    const size_t m0 = meta.size();
    meta.resize(m0 + static_cast<size_t>(c.count));
    auto get = [&](void* data, size_t bytes) {
      if (bytes > 0 && std::fread(data, 1, bytes, file_) != bytes) {
        throw Error(path_.string(), "the scratch file is shorter than written",
                    "do not touch *.samples-rank*.tmp files during a run");
      }
    };
    get(meta.data() + m0, static_cast<size_t>(c.count) * sizeof(Meta));
    for (size_t s = 0; s < site_neurons_.size(); ++s) {
      const size_t r0 = rows[s].size();
      rows[s].resize(r0 + static_cast<size_t>(c.count * site_neurons_[s]));
      get(rows[s].data() + r0, static_cast<size_t>(c.count * site_neurons_[s]) * sizeof(float));
    }
  }
  std::fseek(file_, 0, SEEK_END);
}

}  // namespace neurolens::runner
