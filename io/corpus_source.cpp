#include "io/corpus_source.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>

namespace neurolens::io::detail {

std::string shrunk_problem(uint64_t now, uint64_t then) {
  return "the file is shorter than when the corpus was opened (" + std::to_string(now) + " < " +
         std::to_string(then) + " bytes)";
}

bool is_regular(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows symlinks
}

namespace {

class PlainSource final : public ByteSource {
 public:
  // Reads [from, size) in chunks of up to 1 MiB up to `stop`, then 64 KiB at a time (past the
  // end of a segment only its last line is needed).
  PlainSource(const fs::path& path, uint64_t from, uint64_t stop, uint64_t size, Counter* counter)
      : fd_(path, counter), pos_(from), stop_(stop), size_(size) {}
  bool fill(std::string& buf) override {
    if (pos_ >= size_ || shrunk_) return false;
    const uint64_t chunk = pos_ < stop_ ? std::min<uint64_t>(kChunk, stop_ - pos_) : kHead;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, size_ - pos_));
    const size_t old = buf.size();
    buf.resize(old + want);
    const size_t got = fd_.read_into(buf.data() + old, want, pos_);
    buf.resize(old + got);
    pos_ += got;
    if (got == 0) shrunk_ = true;
    return got > 0;
  }
  bool shrunk() const override { return shrunk_; }
  uint64_t position() const override { return pos_; }

 private:
  Fd fd_;
  uint64_t pos_;
  uint64_t stop_;
  uint64_t size_;
  bool shrunk_ = false;
};

// Reads compressed input a chunk at a time; the base of the two decompressors.
class CompressedInput {
 protected:
  CompressedInput(const fs::path& path, uint64_t size, Counter* counter)
      : path_(path), fd_(path, counter), size_(size), in_(kChunk, '\0') {}
  // Reads the next input chunk into in_; false at end of file.
  bool next_input() {
    if (read_ >= size_) return false;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, size_ - read_));
    in_len_ = fd_.read_into(in_.data(), want, read_);
    in_base_ = read_;
    read_ += in_len_;
    if (in_len_ == 0) {
      throw Error(path_.string(), shrunk_problem(read_, size_), kModifiedHint);
    }
    return true;
  }
  [[noreturn]] void truncated(const char* what) const {
    throw Error(path_.string(),
                std::string("truncated ") + what + " data: the stream ends inside a " +
                    (what[0] == 'g' ? "member" : "frame") + " at compressed byte " +
                    std::to_string(size_),
                std::string("the file is incomplete (an interrupted download or copy?); check it "
                            "with ") +
                    (what[0] == 'g' ? "gzip -t" : "zstd -t") + " and fetch it again");
  }
  [[noreturn]] void corrupt(const char* what, uint64_t at, const std::string& detail) const {
    throw Error(path_.string(),
                std::string("corrupt ") + what + " data at compressed byte " + std::to_string(at) +
                    (detail.empty() ? "" : ": " + detail),
                std::string("the file is damaged or not ") + what + "; check it with " +
                    (what[0] == 'g' ? "gzip -t" : "zstd -t") + " and fetch it again");
  }

  fs::path path_;
  Fd fd_;
  uint64_t size_;
  std::string in_;
  size_t in_len_ = 0;
  uint64_t in_base_ = 0;  // file offset of in_[0]
  uint64_t read_ = 0;     // file bytes read so far
  uint64_t out_ = 0;      // decompressed bytes delivered
};

// gzip (and zlib) streams, any number of concatenated members.
class GzipSource final : public ByteSource, CompressedInput {
 public:
  GzipSource(const fs::path& path, uint64_t size, Counter* counter)
      : CompressedInput(path, size, counter) {
    if (inflateInit2(&zs_, 15 + 32) != Z_OK) {
      throw Error(path.string(), "zlib could not be initialised", "check the available memory");
    }
  }
  ~GzipSource() override { inflateEnd(&zs_); }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  bool fill(std::string& buf) override {
    if (done_) return false;
    const size_t old = buf.size();
    buf.resize(old + kChunk);
    zs_.next_out = reinterpret_cast<Bytef*>(buf.data() + old);
    zs_.avail_out = static_cast<uInt>(kChunk);
    while (zs_.avail_out > 0) {
      if (zs_.avail_in == 0) {
        if (!next_input()) {
          if (in_member_) truncated("gzip");
          done_ = true;
          break;
        }
        zs_.next_in = reinterpret_cast<Bytef*>(in_.data());
        zs_.avail_in = static_cast<uInt>(in_len_);
      }
      in_member_ = true;
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        in_member_ = false;
        inflateReset(&zs_);  // another member may follow
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs_.avail_in == 0)) {
        corrupt("gzip", in_base_ + (in_len_ - zs_.avail_in), zs_.msg != nullptr ? zs_.msg : "");
      }
    }
    const size_t produced = kChunk - zs_.avail_out;
    buf.resize(old + produced);
    out_ += produced;
    return produced > 0 || !done_;
  }
  uint64_t position() const override { return out_; }

 private:
  z_stream zs_{};
  bool in_member_ = true;  // a file must hold at least one member
  bool done_ = false;
};

// zstd streams, any number of frames (skippable frames included).
class ZstdSource final : public ByteSource, CompressedInput {
 public:
  ZstdSource(const fs::path& path, uint64_t size, Counter* counter)
      : CompressedInput(path, size, counter), ds_(ZSTD_createDStream()) {
    if (ds_ == nullptr) {
      throw Error(path.string(), "zstd could not be initialised", "check the available memory");
    }
    ZSTD_initDStream(ds_);
  }
  ~ZstdSource() override { ZSTD_freeDStream(ds_); }
  ZstdSource(const ZstdSource&) = delete;
  ZstdSource& operator=(const ZstdSource&) = delete;

  bool fill(std::string& buf) override {
    if (done_) return false;
    const size_t old = buf.size();
    buf.resize(old + kChunk);
    ZSTD_outBuffer out{buf.data() + old, kChunk, 0};
    while (out.pos < out.size) {
      if (zin_.pos == zin_.size) {
        if (next_input()) {
          zin_ = ZSTD_inBuffer{in_.data(), in_len_, 0};
        } else if (pending_ == 0) {
          done_ = true;
          break;
        }
      }
      const size_t before_out = out.pos;
      const size_t rc = ZSTD_decompressStream(ds_, &out, &zin_);
      if (ZSTD_isError(rc)) {
        corrupt("zstd", in_base_ + zin_.pos, ZSTD_getErrorName(rc));
      }
      pending_ = rc;
      if (zin_.pos == zin_.size && read_ >= size_ && out.pos == before_out && pending_ != 0) {
        truncated("zstd");  // no input left, no progress, and the frame is not complete
      }
    }
    buf.resize(old + out.pos);
    out_ += out.pos;
    return out.pos > 0 || !done_;
  }
  uint64_t position() const override { return out_; }

 private:
  ZSTD_DStream* ds_;
  ZSTD_inBuffer zin_{nullptr, 0, 0};
  size_t pending_ = 1;  // 0 once a frame is complete and flushed; a file must hold a frame
  bool done_ = false;
};

}  // namespace

std::unique_ptr<ByteSource> plain_source(const fs::path& path, uint64_t from, uint64_t stop,
                                         uint64_t size, Counter* counter) {
  return std::make_unique<PlainSource>(path, from, stop, size, counter);
}

std::unique_ptr<ByteSource> gzip_source(const fs::path& path, uint64_t size, Counter* counter) {
  return std::make_unique<GzipSource>(path, size, counter);
}

std::unique_ptr<ByteSource> zstd_source(const fs::path& path, uint64_t size, Counter* counter) {
  return std::make_unique<ZstdSource>(path, size, counter);
}

}  // namespace neurolens::io::detail
