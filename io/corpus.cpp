#include "io/corpus.hpp"

#include "io/corpus_source.hpp"
#include "io/document_text.hpp"
#include "io/error.hpp"
#include "io/token_file.hpp"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace neurolens::io {
namespace fs = std::filesystem;
using namespace detail;  // file bytes (corpus_source.hpp), document text (document_text.hpp),
                         // token files (token_file.hpp)

namespace {

bool has_glob_chars(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string lower_extension(const fs::path& p) {
  return lower(p.extension().string());
}
// ".jsonl" of "a.jsonl.gz".
std::string inner_extension(const fs::path& p) {
  return lower(p.stem().extension().string());
}

// The sidecar `neurolens tokenize` writes beside a token file: corpus.bin.json, corpus.npy.json.
bool is_sidecar_name(const fs::path& p) {
  const std::string ext = lower_extension(p);
  const std::string inner = inner_extension(p);
  return ext == ".json" && (inner == ".bin" || inner == ".npy");
}

struct Expanded {
  std::vector<fs::path> files;
  bool single_file = false;  // the spec named one file: never skip it
};

Expanded expand_spec(const std::string& spec) {
  if (spec.empty()) {
    throw Error("corpus", "the corpus spec is empty",
                "give a file, a directory or a quoted glob such as 'data/*.jsonl'");
  }
  Expanded out;
  std::error_code ec;
  const fs::path p(spec);
  if (fs::is_regular_file(p, ec)) {
    out.files.push_back(p);
    out.single_file = true;
    return out;
  }
  if (fs::is_directory(p, ec)) {
    fs::directory_iterator it(p, ec);
    if (ec) {
      throw Error(spec, "cannot list the directory: " + ec.message(),
                  "check that the directory is readable");
    }
    for (const auto& entry : it) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.' || is_sidecar_name(entry.path())) continue;
      if (is_regular(entry.path())) out.files.push_back(entry.path());
    }
    if (out.files.empty()) {
      throw Error(spec, "the directory holds no regular files",
                  "put the corpus files directly in this directory (subdirectories are not read)");
    }
  } else if (has_glob_chars(spec)) {
    glob_t g{};
    const int rc = ::glob(spec.c_str(), GLOB_NOSORT, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        fs::path m(g.gl_pathv[i]);
        if (is_regular(m) && !is_sidecar_name(m)) out.files.push_back(std::move(m));
      }
    }
    ::globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      throw Error(spec, "the glob could not be expanded (glob error " + std::to_string(rc) + ")",
                  "check that the directories in the pattern are readable");
    }
    if (out.files.empty()) {
      throw Error(spec, "no file matches the glob",
                  "check the pattern (* ? [...] are supported, ** is not) and quote it so the "
                  "shell does not expand it");
    }
  } else {
    throw Error(spec, "no such file or directory",
                "give an existing file, a directory or a quoted glob such as 'data/*.txt'");
  }
  std::sort(out.files.begin(), out.files.end(),
            [](const fs::path& a, const fs::path& b) { return a.native() < b.native(); });
  return out;
}

// The first up to 64 KiB of a file.
std::string read_head(const fs::path& path, Counter* counter) {
  return Fd(path, counter).read(0, kHead);
}

// First non-blank line within the head of the file (BOM removed), trimmed of '\r'.
std::string first_nonblank_line(const fs::path& path, Counter* counter) {
  std::string head = read_head(path, counter);
  if (std::string_view(head).substr(0, 3) == kBom) head.erase(0, 3);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    if (eol == std::string::npos) eol = head.size();
    std::string_view line = std::string_view(head).substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!std::all_of(line.begin(), line.end(), is_blank)) return std::string(line);
    pos = eol + 1;
  }
  return {};
}

bool looks_brown(const fs::path& p, size_t min_tokens, Counter* counter) {
  return is_brown_file_name(p.filename().string()) ||
         is_brown_line(first_nonblank_line(p, counter), min_tokens);
}

bool is_compressed_name(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".gz" || ext == ".zst" || ext == ".zstd";
}

bool is_json_lines_extension(const std::string& ext) {
  return ext == ".jsonl" || ext == ".ndjson" || ext == ".json";
}

enum class Kind { Text, JsonLines, JsonOther, Brown, Tokens, CompressedOther };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Text:
      return "text";
    case Kind::JsonLines:
      return "JSON Lines";
    case Kind::Tokens:
      return "a token file";
    default:
      return "other";
  }
}

Kind classify(const fs::path& p, Counter* counter) {
  const std::string ext = lower_extension(p);
  if (ext == ".bin" || ext == ".npy") return Kind::Tokens;
  if (is_compressed_name(p)) {
    return is_json_lines_extension(inner_extension(p)) ? Kind::JsonLines : Kind::CompressedOther;
  }
  if (ext == ".jsonl" || ext == ".ndjson") return Kind::JsonLines;
  if (is_brown_file_name(p.filename().string())) return Kind::Brown;
  const std::string line = first_nonblank_line(p, counter);
  if (ext == ".json") {
    const size_t b = line.find_first_not_of(" \t");
    const bool object_line =
        b != std::string::npos && line[b] == '{' && nlohmann::json::accept(line);
    return object_line ? Kind::JsonLines : Kind::JsonOther;
  }
  return is_brown_line(line, 3) ? Kind::Brown : Kind::Text;
}

}  // namespace

std::string_view to_string(CorpusFormat format) {
  switch (format) {
    case CorpusFormat::Auto:
      return "auto";
    case CorpusFormat::Text:
      return "text";
    case CorpusFormat::JsonLines:
      return "jsonl";
    case CorpusFormat::Brown:
      return "brown";
    case CorpusFormat::Tokens:
      return "tokens";
  }
  return "?";
}

CorpusFormat parse_corpus_format(std::string_view name) {
  if (name == "auto") return CorpusFormat::Auto;
  if (name == "text") return CorpusFormat::Text;
  if (name == "jsonl" || name == "jsonlines" || name == "json-lines")
    return CorpusFormat::JsonLines;
  if (name == "brown") return CorpusFormat::Brown;
  if (name == "tokens" || name == "bin" || name == "npy") return CorpusFormat::Tokens;
  throw Error("corpus format", "'" + std::string(name) + "' is not a corpus format",
              "use one of auto, text, jsonl, brown, tokens");
}

size_t find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Fast path: 8 ASCII bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlongs
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // <= U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

Corpus Corpus::open(const std::string& spec, CorpusFormat format, uint64_t segment_bytes) {
  segment_bytes = std::max<uint64_t>(segment_bytes, 1);
  Expanded ex = expand_spec(spec);
  Corpus c;
  Counter* counter = c.bytes_read_.get();
  std::vector<fs::path> candidates = std::move(ex.files);

  if (format == CorpusFormat::Auto) {
    std::vector<Kind> kinds;
    kinds.reserve(candidates.size());
    for (const auto& f : candidates) kinds.push_back(classify(f, counter));
    const auto first_of = [&](Kind k) -> const fs::path* {
      for (size_t i = 0; i < kinds.size(); ++i) {
        if (kinds[i] == k) return &candidates[i];
      }
      return nullptr;
    };
    if (first_of(Kind::Brown) != nullptr) {
      format = CorpusFormat::Brown;
      for (size_t i = 0; i < candidates.size(); ++i) {
        (kinds[i] == Kind::Brown ? c.files_ : c.skipped_).push_back(candidates[i]);
      }
    } else if (const fs::path* other = first_of(Kind::JsonOther)) {
      throw Error(other->string() + ":1", "is a JSON document, not JSON Lines", kJqHint);
    } else if (const fs::path* packed = first_of(Kind::CompressedOther)) {
      throw Error(packed->string(), "is compressed but not JSON Lines",
                  "only JSON Lines are read compressed (name.jsonl.gz, name.jsonl.zst); "
                  "decompress other files first");
    } else {
      const Kind order[] = {Kind::JsonLines, Kind::Text, Kind::Tokens};
      std::vector<std::pair<Kind, const fs::path*>> present;
      for (Kind k : order) {
        if (const fs::path* f = first_of(k)) present.emplace_back(k, f);
      }
      if (present.size() > 1) {
        throw Error(spec,
                    "mixed formats: " + present[0].second->string() + " is " +
                        kind_name(present[0].first) + " but " + present[1].second->string() +
                        " is " + kind_name(present[1].first),
                    "select one kind of file with a glob such as 'dir/*.jsonl', or pass the "
                    "format (text, jsonl or tokens) explicitly");
      }
      const Kind k = present.empty() ? Kind::Text : present[0].first;
      format = k == Kind::JsonLines ? CorpusFormat::JsonLines
               : k == Kind::Tokens  ? CorpusFormat::Tokens
                                    : CorpusFormat::Text;
      c.files_ = std::move(candidates);
    }
  } else if (format == CorpusFormat::Brown && !ex.single_file) {
    for (auto& f : candidates) {
      (looks_brown(f, 1, counter) ? c.files_ : c.skipped_).push_back(std::move(f));
    }
    if (c.files_.empty()) {
      throw Error(spec, "no file looks like a Brown word/TAG file",
                  "Brown files are named like ca01 or hold lines of word/tag tokens; use format "
                  "text or jsonl for other corpora");
    }
  } else {
    c.files_ = std::move(candidates);
  }
  c.format_ = format;

  if (c.files_.size() >= std::numeric_limits<uint32_t>::max()) {
    throw Error(spec, "matches too many files (" + std::to_string(c.files_.size()) + ")",
                "split the corpus into several runs");
  }

  // Per file: size (opening it proves it is readable), codec, token layout and sidecar.
  bool any_documents = false;
  bool all_sidecars = true;
  int64_t sidecar_documents = 0, sidecar_tokens = 0;
  c.file_info_.resize(c.files_.size());
  for (uint32_t i = 0; i < c.files_.size(); ++i) {
    const fs::path& f = c.files_[i];
    FileInfo& fi = c.file_info_[i];
    fi.size = Fd(f).size();
    c.total_bytes_ += fi.size;
    if (format == CorpusFormat::JsonLines) {
      const std::string ext = lower_extension(f);
      if (ext == ".gz") fi.codec = Codec::Gzip;
      if (ext == ".zst" || ext == ".zstd") fi.codec = Codec::Zstd;
      if (fi.codec != Codec::None) {
        any_documents = true;  // not known without decompressing
      } else if (fi.size > 0) {
        const std::string head = read_head(f, counter);
        any_documents |= check_json_lines_head(f, head, head.size() >= fi.size);
      }
    } else if (format == CorpusFormat::Tokens) {
      TokenFile tf;
      if (lower_extension(f) == ".npy") parse_npy(f, read_head(f, counter), fi.size, tf);
      read_sidecar(f, lower_extension(f) == ".npy", counter, tf);
      const uint64_t data = fi.size - tf.data_offset;
      if (data % static_cast<uint64_t>(tf.width) != 0) {
        throw Error(f.string(),
                    "its size, " + std::to_string(fi.size) + " bytes, is not a multiple of the " +
                        std::to_string(tf.width) + "-byte token width",
                    "the file is truncated, or its token width is wrong (a uint32 file needs a "
                    "sidecar with \"dtype\": \"uint32\")");
      }
      const int64_t n_tokens = static_cast<int64_t>(data / static_cast<uint64_t>(tf.width));
      if (tf.has_sidecar && tf.sidecar.tokens >= 0 && tf.sidecar.tokens != n_tokens) {
        throw Error(f.string() + ".json: tokens",
                    "says " + std::to_string(tf.sidecar.tokens) + " but " + f.string() + " holds " +
                        std::to_string(n_tokens) + " tokens",
                    "the token file and its sidecar do not belong together; write them again");
      }
      TokenCorpusInfo ti = tf.has_sidecar ? tf.sidecar : TokenCorpusInfo{};
      ti.width = tf.width;
      if (i == 0) {
        c.token_info_ = ti;
      } else if (ti.width != c.token_info_.width || ti.eot != c.token_info_.eot ||
                 ti.tokenizer_fingerprint != c.token_info_.tokenizer_fingerprint) {
        throw Error(spec,
                    "token files disagree: " + c.files_[0].string() + " and " + f.string() +
                        " differ in token width, end-of-text id or tokenizer",
                    "read token files made by one tokenizer, with one dtype, together");
      }
      all_sidecars &= tf.has_sidecar;
      if (tf.has_sidecar && tf.sidecar.documents >= 0 && sidecar_documents >= 0) {
        sidecar_documents += tf.sidecar.documents;
      } else {
        sidecar_documents = -1;
      }
      sidecar_tokens += n_tokens;
      fi.data_offset = tf.data_offset;
      fi.width = static_cast<uint8_t>(tf.width);
      fi.signed_ids = tf.signed_ids;
      any_documents |= n_tokens > 0;
    } else {
      any_documents = true;  // one file is one document
    }
  }
  if (format == CorpusFormat::Tokens) {
    c.token_info_.has_sidecar = all_sidecars;
    c.token_info_.documents = all_sidecars ? sidecar_documents : -1;
    c.token_info_.tokens = sidecar_tokens;
  }
  if (!any_documents) {
    throw Error(spec,
                format == CorpusFormat::Tokens
                    ? "the corpus holds no documents (its token files are empty)"
                    : "the corpus holds no documents (every JSON Lines line is blank)",
                "check that the files are not empty");
  }

  // Segments, from the sizes alone.
  bool grouping = false;
  CorpusSegment group;
  const auto close_group = [&] {
    if (!grouping) return;
    group.end = c.file_info_[group.last_file].size;
    c.segments_.push_back(group);
    grouping = false;
  };
  for (uint32_t i = 0; i < c.files_.size(); ++i) {
    const FileInfo& fi = c.file_info_[i];
    const bool splittable = (format == CorpusFormat::JsonLines && fi.codec == Codec::None) ||
                            format == CorpusFormat::Tokens;
    if (splittable) {
      close_group();
      uint64_t step = segment_bytes;
      if (format == CorpusFormat::Tokens)
        step = std::max<uint64_t>(fi.width, step / fi.width * fi.width);
      for (uint64_t b = fi.data_offset; b < fi.size;) {
        const uint64_t e = fi.size - b > step ? b + step : fi.size;
        c.segments_.push_back(CorpusSegment{i, i, b, e, e - b});
        b = e;
      }
    } else if (format == CorpusFormat::JsonLines) {  // compressed: one segment
      close_group();
      c.segments_.push_back(CorpusSegment{i, i, 0, fi.size, fi.size});
    } else {  // whole-file documents: consecutive files share a segment
      if (grouping && group.bytes + fi.size > segment_bytes) close_group();
      if (!grouping) {
        group = CorpusSegment{i, i, 0, 0, 0};
        grouping = true;
      }
      group.last_file = i;
      group.bytes += fi.size;
    }
  }
  close_group();
  return c;
}

const CorpusSegment& Corpus::segment(size_t index) const {
  if (index >= segments_.size()) {
    throw Error("corpus",
                "segment " + std::to_string(index) + " is out of range (" +
                    std::to_string(segments_.size()) + " segments)",
                "use an index below n_segments()");
  }
  return segments_[index];
}

uint64_t Corpus::read_segment(size_t index, const std::function<bool(Document&)>& fn) const {
  const CorpusSegment& seg = segment(index);
  switch (format_) {
    case CorpusFormat::JsonLines:
      return read_json_lines(seg, fn);
    case CorpusFormat::Tokens:
      return read_tokens(seg, fn);
    default:
      return read_whole_files(seg, fn);
  }
}

uint64_t Corpus::read_whole_files(const CorpusSegment& seg,
                                  const std::function<bool(Document&)>& fn) const {
  uint64_t n = 0;
  for (uint32_t f = seg.first_file; f <= seg.last_file; ++f) {
    const fs::path& path = files_[f];
    const uint64_t size = file_info_[f].size;
    Document doc;
    doc.index = n;
    doc.source = path.string();
    const std::string raw = Fd(path, bytes_read_.get()).read(0, static_cast<size_t>(size));
    if (raw.size() != size)
      throw Error(doc.source, shrunk_problem(raw.size(), size), kModifiedHint);
    uint64_t bom = 0;
    const std::string_view bytes = strip_bom(raw, 0, bom);
    check_utf8(bytes, bom, doc.source);
    if (format_ == CorpusFormat::Brown) {
      BrownText b = parse_brown(bytes, doc.source, bom);
      doc.text = std::move(b.text);
      doc.words = std::move(b.words);
    } else {
      doc.text.assign(bytes);
    }
    ++n;
    if (!fn(doc)) break;
  }
  return n;
}

namespace {

// Line number (1-based) of the line starting at `offset` of a plain file: counts the newlines
// before it. Only called to name the line of an error.
uint64_t line_number_at(const fs::path& path, uint64_t offset, Counter* counter) {
  Fd fd(path, counter);
  std::string chunk;
  uint64_t line = 1;
  for (uint64_t pos = 0; pos < offset;) {
    chunk = fd.read(pos, static_cast<size_t>(std::min<uint64_t>(kChunk, offset - pos)));
    if (chunk.empty()) break;
    line += static_cast<uint64_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    pos += chunk.size();
  }
  return line;
}

}  // namespace

uint64_t Corpus::read_json_lines(const CorpusSegment& seg,
                                 const std::function<bool(Document&)>& fn) const {
  const fs::path& path = files_[seg.first_file];
  const FileInfo& fi = file_info_[seg.first_file];
  Counter* counter = bytes_read_.get();
  std::unique_ptr<ByteSource> src;
  uint64_t buf_off = 0;  // stream offset of buf[0]
  uint64_t stop = std::numeric_limits<uint64_t>::max();
  switch (fi.codec) {
    case Codec::None:
      buf_off = seg.begin == 0 ? 0 : seg.begin - 1;  // the byte before: does a line start here?
      stop = seg.end;
      src = plain_source(path, buf_off, stop, fi.size, counter);
      break;
    case Codec::Gzip:
      src = gzip_source(path, fi.size, counter);
      break;
    case Codec::Zstd:
      src = zstd_source(path, fi.size, counter);
      break;
  }
  std::string buf;
  bool eof = false;
  const auto more = [&] {
    if (eof) return false;
    if (!src->fill(buf)) eof = true;
    return !eof;
  };

  // The first line this segment owns: the one starting at begin if the byte before is '\n',
  // else the one after the next '\n'.
  uint64_t pos = 0;
  if (seg.begin > 0) {
    size_t scan = 0;
    size_t nl = std::string::npos;
    while ((nl = buf.find('\n', scan)) == std::string::npos) {
      scan = buf.size();
      if (buf_off + scan >= stop || !more()) break;
    }
    if (nl == std::string::npos) {
      if (src->shrunk()) {
        throw Error(path.string(), shrunk_problem(src->position(), fi.size), kModifiedHint);
      }
      return 0;
    }
    pos = buf_off + nl + 1;
  }
  const std::string name = path.string();
  uint64_t line = pos == 0 ? 1 : 0;  // 0: not known (counted only to name an error)
  uint64_t n = 0;
  while (pos < stop) {
    const size_t i = static_cast<size_t>(pos - buf_off);
    size_t scan = i;
    size_t nl = std::string::npos;
    while (i <= buf.size() && (nl = buf.find('\n', scan)) == std::string::npos) {
      scan = buf.size();
      if (!more()) break;
    }
    const std::string where =
        line > 0 ? name + ":" + std::to_string(line) : name + "@byte " + std::to_string(pos);
    try {
      if (nl == std::string::npos) {
        if (src->shrunk()) {
          throw Error(where, shrunk_problem(src->position(), fi.size), kModifiedHint);
        }
        if (i >= buf.size()) break;  // end of the content
        nl = buf.size();
      }
      std::string_view bytes(buf.data() + i, nl - i);
      uint64_t offset = pos;
      if (pos == 0 && bytes.substr(0, 3) == kBom) {
        bytes.remove_prefix(3);
        offset = 3;
      }
      const size_t first = static_cast<size_t>(
          std::find_if_not(bytes.begin(), bytes.end(), is_blank) - bytes.begin());
      if (first < bytes.size()) {
        if (bytes[first] != '{') throw not_an_object(where, offset + first, bytes[first]);
        Document doc;
        doc.index = n;
        doc.source = where;
        doc.text = json_line_text(bytes, offset, where);
        ++n;
        if (!fn(doc)) break;
      }
    } catch (const Error& e) {
      if (line > 0 || e.context() != where) throw;
      throw Error(name + ":" + std::to_string(line_number_at(path, pos, counter)), e.problem(),
                  e.hint());
    }
    pos = buf_off + nl + 1;
    if (line > 0) ++line;
    if (pos - buf_off >= kChunk && pos - buf_off <= buf.size()) {
      buf.erase(0, static_cast<size_t>(pos - buf_off));
      buf_off = pos;
    }
  }
  return n;
}

uint64_t Corpus::read_tokens(const CorpusSegment& seg,
                             const std::function<bool(Document&)>& fn) const {
  const fs::path& path = files_[seg.first_file];
  const FileInfo& fi = file_info_[seg.first_file];
  const int width = fi.width;
  const uint64_t n_tokens = (fi.size - fi.data_offset) / static_cast<uint64_t>(width);
  const uint64_t t_begin = (seg.begin - fi.data_offset) / static_cast<uint64_t>(width);
  const uint64_t t_end = (seg.end - fi.data_offset) / static_cast<uint64_t>(width);
  const auto eot = static_cast<uint32_t>(token_info_.eot);
  const std::string name = path.string();
  const Fd fd(path, bytes_read_.get());

  // Tokens [buf_t, buf_t + buf_n) are in buf, read forward a chunk at a time.
  std::string buf;
  uint64_t buf_t = 0, buf_n = 0;
  const auto at = [&](uint64_t t) -> uint32_t {
    if (t < buf_t || t >= buf_t + buf_n) {
      const uint64_t n = std::min<uint64_t>(kChunk / static_cast<size_t>(width), n_tokens - t);
      buf.resize(static_cast<size_t>(n) * static_cast<size_t>(width));
      const uint64_t offset = fi.data_offset + t * static_cast<uint64_t>(width);
      const size_t got = fd.read_into(buf.data(), buf.size(), offset);
      if (got != buf.size()) {
        throw Error(name + "@token " + std::to_string(t), shrunk_problem(offset + got, fi.size),
                    kModifiedHint);
      }
      buf_t = t;
      buf_n = n;
    }
    return load_le(reinterpret_cast<const unsigned char*>(buf.data()) +
                       (t - buf_t) * static_cast<uint64_t>(width),
                   width);
  };

  uint64_t t = t_begin;
  if (t_begin > 0) {  // the first document starting at or after t_begin
    t = t_begin - 1;
    while (t < t_end && at(t) != eot) ++t;
    ++t;
  }
  uint64_t n = 0;
  while (t < t_end && t < n_tokens) {
    Document doc;
    doc.index = n;
    doc.source = name + "@token " + std::to_string(t);
    for (; t < n_tokens; ++t) {
      const uint32_t id = at(t);
      if (id == eot) break;
      if (id > static_cast<uint32_t>(std::numeric_limits<int32_t>::max()) ||
          (vocab_size_ > 0 && static_cast<int64_t>(id) >= vocab_size_)) {
        const std::string shown =
            fi.signed_ids ? std::to_string(static_cast<int32_t>(id)) : std::to_string(id);
        throw Error(name + "@token " + std::to_string(t),
                    "token id " + shown + " is outside the vocabulary (size " +
                        (vocab_size_ > 0 ? std::to_string(vocab_size_) : std::string("2^31")) + ")",
                    "tokenize the corpus with this model's tokenizer (neurolens tokenize "
                    "--model DIR), or check its dtype (a uint32 file needs a sidecar)");
      }
      doc.tokens.push_back(static_cast<int32_t>(id));
    }
    ++t;  // past the end-of-text
    ++n;
    if (!fn(doc)) break;
  }
  return n;
}

}  // namespace neurolens::io
