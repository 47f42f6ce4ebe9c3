#include "io/corpus.hpp"

#include "io/error.hpp"

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

namespace {

constexpr size_t kChunk = size_t{1} << 20;  // JSON Lines index scan
constexpr size_t kHead = size_t{64} << 10;  // bytes read to detect a file's format
constexpr std::string_view kBom = "\xEF\xBB\xBF";
const char* const kJqHint =
    "each line must be one JSON object with a \"text\" string, e.g. {\"text\": \"...\"}; a JSON "
    "array of strings converts with: jq -c '.[] | {text: .}' in.json > out.jsonl";

// An open file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      throw Error(path.string(), std::string("cannot open: ") + std::strerror(errno),
                  "check that the file exists and is readable");
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }

  // Reads up to `length` bytes at `offset`; fewer only at end of file.
  std::string read(uint64_t offset, size_t length) const {
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
      const ssize_t n =
          ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
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
    out.resize(done);
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
  int fd_ = -1;
};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool has_glob_chars(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

bool is_regular(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows symlinks
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
      if (name.empty() || name[0] == '.') continue;
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
        if (is_regular(m)) out.files.push_back(std::move(m));
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

// First non-blank line within the head of the file (BOM removed), trimmed of '\r'.
std::string first_nonblank_line(const fs::path& path) {
  Fd fd(path);
  std::string head = fd.read(0, kHead);
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

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext;
}

bool looks_brown(const fs::path& p, size_t min_tokens) {
  return is_brown_file_name(p.filename().string()) ||
         is_brown_line(first_nonblank_line(p), min_tokens);
}

enum class Kind { Text, JsonLines, JsonOther, Brown };

Kind classify(const fs::path& p) {
  const std::string ext = lower_extension(p);
  if (ext == ".jsonl" || ext == ".ndjson") return Kind::JsonLines;
  if (is_brown_file_name(p.filename().string())) return Kind::Brown;
  const std::string line = first_nonblank_line(p);
  if (ext == ".json") {
    const size_t b = line.find_first_not_of(" \t");
    const bool object_line =
        b != std::string::npos && line[b] == '{' && nlohmann::json::accept(line);
    return object_line ? Kind::JsonLines : Kind::JsonOther;
  }
  return is_brown_line(line, 3) ? Kind::Brown : Kind::Text;
}

// Streams a JSON Lines file in 1 MiB chunks and appends one ref per non-blank line. Checks only
// that each such line starts with '{'; the JSON itself is parsed by read().
template <class Ref>
void index_json_lines(uint32_t file, const fs::path& path, std::vector<Ref>& refs) {
  Fd fd(path);
  const uint64_t size = fd.size();
  uint64_t pos = 0;
  {
    const std::string head = fd.read(0, 3);
    if (head == kBom) pos = 3;
  }
  uint64_t line = 1;
  uint64_t line_start = pos;
  bool in_prefix = true;  // still in the leading whitespace of the line
  while (pos < size) {
    const std::string chunk =
        fd.read(pos, static_cast<size_t>(std::min<uint64_t>(kChunk, size - pos)));
    if (chunk.empty()) break;  // file shrank while indexing
    size_t j = 0;
    while (j < chunk.size()) {
      if (in_prefix) {
        const char c = chunk[j];
        if (c == '\n') {
          ++line;
          line_start = pos + j + 1;
          ++j;
        } else if (is_blank(c)) {
          ++j;
        } else if (c == '{') {
          in_prefix = false;
          ++j;
        } else {
          std::string shown(1, c);
          if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x80) {
            shown = "byte " + std::to_string(static_cast<unsigned char>(c));
          }
          throw Error(path.string() + ":" + std::to_string(line),
                      "byte " + std::to_string(pos + j) + ": the line starts with '" + shown +
                          "', not a JSON object",
                      kJqHint);
        }
      } else {
        const void* nl = std::memchr(chunk.data() + j, '\n', chunk.size() - j);
        if (nl == nullptr) {
          j = chunk.size();
        } else {
          const size_t k = static_cast<size_t>(static_cast<const char*>(nl) - chunk.data());
          refs.push_back(Ref{file, line_start, pos + k - line_start, line});
          ++line;
          line_start = pos + k + 1;
          in_prefix = true;
          j = k + 1;
        }
      }
    }
    pos += chunk.size();
  }
  if (!in_prefix) refs.push_back(Ref{file, line_start, pos - line_start, line});
}

std::string_view strip_bom(std::string_view s, uint64_t offset, uint64_t& skipped) {
  skipped = 0;
  if (offset == 0 && s.substr(0, 3) == kBom) {
    skipped = 3;
    s.remove_prefix(3);
  }
  return s;
}

void check_utf8(std::string_view bytes, uint64_t file_offset, const std::string& where) {
  const size_t bad = find_invalid_utf8(bytes);
  if (bad == std::string_view::npos) return;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(bytes[bad]));
  throw Error(where,
              "invalid UTF-8 at byte " + std::to_string(file_offset + bad) + " (" + hex + ")",
              "re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 in > out, or remove "
              "the damaged bytes");
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
  throw Error("corpus format", "'" + std::string(name) + "' is not a corpus format",
              "use one of auto, text, jsonl, brown");
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
  Expanded ex = expand_spec(spec);
  Corpus c;
  std::vector<fs::path> candidates = std::move(ex.files);

  if (format == CorpusFormat::Auto) {
    std::vector<Kind> kinds;
    kinds.reserve(candidates.size());
    for (const auto& f : candidates) kinds.push_back(classify(f));
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
    } else {
      const fs::path* jl = first_of(Kind::JsonLines);
      const fs::path* tx = first_of(Kind::Text);
      if (jl != nullptr && tx != nullptr) {
        throw Error(
            spec,
            "mixed formats: " + jl->string() + " is JSON Lines but " + tx->string() + " is text",
            "select one kind of file with a glob such as 'dir/*.jsonl', or pass the "
            "format (text or jsonl) explicitly");
      }
      format = jl != nullptr ? CorpusFormat::JsonLines : CorpusFormat::Text;
      c.files_ = std::move(candidates);
    }
  } else if (format == CorpusFormat::Brown && !ex.single_file) {
    for (auto& f : candidates) (looks_brown(f, 1) ? c.files_ : c.skipped_).push_back(std::move(f));
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
  for (uint32_t i = 0; i < c.files_.size(); ++i) {
    const fs::path& f = c.files_[i];
    if (format == CorpusFormat::JsonLines) {
      index_json_lines(i, f, c.refs_);
      c.total_bytes_ += Fd(f).size();
    } else {
      const uint64_t size = Fd(f).size();  // also proves the file is readable
      c.refs_.push_back(DocumentRef{i, 0, size, 0});
      c.total_bytes_ += size;
    }
  }
  // TRANSITIONAL: segments of about segment_bytes of whole documents.
  c.segment_first_doc_ = {0};
  uint64_t in_segment = 0;
  for (size_t d = 0; d < c.refs_.size(); ++d) {
    in_segment += c.refs_[d].length;
    if (in_segment >= segment_bytes || d + 1 == c.refs_.size()) {
      c.segment_first_doc_.push_back(d + 1);
      const DocumentRef& first = c.refs_[c.segment_first_doc_[c.segment_first_doc_.size() - 2]];
      c.segments_.push_back(CorpusSegment{first.file, c.refs_[d].file, first.offset,
                                          c.refs_[d].offset + c.refs_[d].length, in_segment});
      in_segment = 0;
    }
  }
  if (c.refs_.empty()) {
    throw Error(spec, "the corpus holds no documents (every JSON Lines line is blank)",
                "check that the files are not empty");
  }
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
  segment(index);
  uint64_t n = 0;
  for (size_t d = segment_first_doc_[index]; d < segment_first_doc_[index + 1]; ++d) {
    Document doc = read_indexed(d);
    doc.index = n;
    ++n;
    if (!fn(doc)) break;
  }
  return n;
}

Document Corpus::read_indexed(size_t index) const {
  const DocumentRef& r = refs_[index];
  const fs::path& path = files_[r.file];
  Document doc;
  doc.index = index;
  doc.source = path.string();
  if (r.line > 0) doc.source += ":" + std::to_string(r.line);

  std::string raw = Fd(path).read(r.offset, static_cast<size_t>(r.length));
  bytes_read_->fetch_add(raw.size());
  if (raw.size() != r.length) {
    throw Error(doc.source,
                "the file is shorter than when it was indexed (" +
                    std::to_string(r.offset + raw.size()) + " < " +
                    std::to_string(r.offset + r.length) + " bytes)",
                "do not modify corpus files during a run");
  }
  uint64_t bom = 0;
  const std::string_view bytes = strip_bom(raw, r.offset, bom);
  check_utf8(bytes, r.offset + bom, doc.source);

  switch (format_) {
    case CorpusFormat::Auto:
    case CorpusFormat::Tokens:
    case CorpusFormat::Text:
      doc.text.assign(bytes);
      break;
    case CorpusFormat::Brown: {
      BrownText b = parse_brown(bytes, doc.source, r.offset + bom);
      doc.text = std::move(b.text);
      doc.words = std::move(b.words);
      break;
    }
    case CorpusFormat::JsonLines: {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(bytes);
      } catch (const nlohmann::json::parse_error& e) {
        const uint64_t at = r.offset + bom + (e.byte > 0 ? e.byte - 1 : 0);
        std::string what = e.what();
        if (const size_t colon = what.find("] "); colon != std::string::npos)
          what.erase(0, colon + 2);
        if (what.size() > 160) {  // "last read" can echo a whole long line
          size_t cut = 160;
          while (cut > 0 && (static_cast<unsigned char>(what[cut]) & 0xC0) == 0x80) --cut;
          what.resize(cut);
          what += "...";
        }
        throw Error(doc.source, "invalid JSON near byte " + std::to_string(at) + ": " + what,
                    "each line must be one complete JSON object; look for an unescaped quote, "
                    "newline or a truncated line");
      } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: a number overflows
        throw Error(doc.source, std::string("invalid JSON: ") + e.what(),
                    "each line must be one complete JSON object with numbers that fit a double");
      }
      if (!j.is_object()) {
        throw Error(doc.source,
                    "the line is a JSON " + std::string(j.type_name()) + ", not an object",
                    kJqHint);
      }
      const auto it = j.find("text");
      if (it == j.end()) {
        std::string fields;
        for (const auto& item : j.items()) {
          if (fields.size() > 60) {
            fields += ", ...";
            break;
          }
          fields += (fields.empty() ? "" : ", ") + item.key();
        }
        throw Error(
            doc.source,
            "field \"text\" is missing (fields: " + (fields.empty() ? "none" : fields) + ")",
            "every line needs a \"text\" string field, as in FineWeb");
      }
      if (!it->is_string()) {
        throw Error(doc.source,
                    "field \"text\" is a " + std::string(it->type_name()) + ", not a string",
                    "store the document as a JSON string in \"text\"");
      }
      doc.text = it->get<std::string>();
      break;
    }
  }
  return doc;
}

}  // namespace neurolens::io
