#include "io/token_file.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace neurolens::io::detail {
namespace {

const char* const kSidecarHint =
    "the sidecar <file>.json is written by neurolens tokenize: write it again, or remove it to "
    "read the file as a bare nanoGPT-style uint16 .bin with end-of-text 50256";
const char* const kNpyHint =
    "save the ids as a 1-D array, e.g. np.save(path, ids.astype(np.uint16)) (or np.uint32 for "
    "vocabularies above 65535)";

// The value of `'key': ...` in a .npy header dictionary (up to the next ',' at depth 0 or '}').
std::string npy_field(std::string_view dict, std::string_view key, const fs::path& path) {
  size_t at = dict.find("'" + std::string(key) + "'");
  if (at == std::string_view::npos) at = dict.find("\"" + std::string(key) + "\"");
  if (at == std::string_view::npos) {
    throw Error(path.string(), "the .npy header has no '" + std::string(key) + "'", kNpyHint);
  }
  at = dict.find(':', at);
  if (at == std::string_view::npos) {
    throw Error(path.string(), "the .npy header is malformed near '" + std::string(key) + "'",
                kNpyHint);
  }
  ++at;
  int depth = 0;
  size_t end = at;
  for (; end < dict.size(); ++end) {
    const char c = dict[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' && depth == 0) || c == '}') break;
  }
  std::string v(dict.substr(at, end - at));
  const size_t b = v.find_first_not_of(" \t");
  const size_t e = v.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
}

}  // namespace

// Reads a little-endian unsigned integer of `width` bytes.
uint32_t load_le(const unsigned char* p, int width) {
  if (width == 2) return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8;
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// Parses the header of a 1-D little-endian '<u2' / '<u4' / '<i4' C-order .npy file.
void parse_npy(const fs::path& path, std::string_view head, uint64_t size, TokenFile& tf) {
  const std::string name = path.string();
  if (head.size() < 10 || head.substr(0, 6) != std::string_view("\x93NUMPY", 6)) {
    throw Error(name, "is not a .npy file (it does not start with \\x93NUMPY)", kNpyHint);
  }
  const auto* u = reinterpret_cast<const unsigned char*>(head.data());
  uint64_t start = 0, length = 0;
  if (u[6] == 1) {
    start = 10;
    length = load_le(u + 8, 2);
  } else if ((u[6] == 2 || u[6] == 3) && head.size() >= 12) {
    start = 12;
    length = load_le(u + 8, 4);
  } else {
    throw Error(name, ".npy format version " + std::to_string(u[6]) + " is not supported",
                kNpyHint);
  }
  if (start + length > head.size()) {
    throw Error(name, "the .npy header is longer than the file or than 64 KiB", kNpyHint);
  }
  const std::string_view dict = head.substr(start, length);
  std::string descr = npy_field(dict, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) {
    descr = descr.substr(1, descr.size() - 2);
  }
  if (descr == "<u2") {
    tf.width = 2;
  } else if (descr == "<u4") {
    tf.width = 4;
  } else if (descr == "<i4") {
    tf.width = 4;
    tf.signed_ids = true;
  } else {
    throw Error(name, "the .npy dtype is '" + descr + "', not '<u2', '<u4' or '<i4'", kNpyHint);
  }
  const std::string fortran = npy_field(dict, "fortran_order", path);
  if (fortran != "False") {
    throw Error(name, "the .npy array is not in C order (fortran_order: " + fortran + ")",
                kNpyHint);
  }
  const std::string shape = npy_field(dict, "shape", path);
  // "(N,)" is 1-D; "(N, M)", "()" are not.
  uint64_t n = 0;
  size_t digits = 0;
  size_t i = shape.empty() ? 0 : 1;
  while (i < shape.size() && shape[i] == ' ') ++i;
  for (; i < shape.size() && shape[i] >= '0' && shape[i] <= '9'; ++i, ++digits) {
    n = n * 10 + static_cast<uint64_t>(shape[i] - '0');
  }
  std::string rest = shape.substr(std::min(i, shape.size()));
  rest.erase(std::remove(rest.begin(), rest.end(), ' '), rest.end());
  if (shape.empty() || shape.front() != '(' || digits == 0 || digits > 18 || rest != ",)") {
    throw Error(name, "the .npy array has shape " + shape + ", not a 1-D (N,)", kNpyHint);
  }
  tf.data_offset = start + length;
  const uint64_t data = size - std::min(size, tf.data_offset);
  if (data != n * static_cast<uint64_t>(tf.width)) {
    throw Error(name,
                "the .npy header says " + std::to_string(n) + " tokens of " +
                    std::to_string(tf.width) + " bytes but the file holds " + std::to_string(data) +
                    " data bytes",
                "the file is truncated or was modified; write it again");
  }
}

// Reads `<token file>.json` if present.
void read_sidecar(const fs::path& token_file, bool is_npy, Counter* counter, TokenFile& tf) {
  const fs::path sidecar = token_file.string() + ".json";
  if (!is_regular(sidecar)) return;
  const std::string name = sidecar.string();
  Fd fd(sidecar, counter);
  if (fd.size() > (uint64_t{1} << 20)) {
    throw Error(name, "the sidecar is larger than 1 MiB", kSidecarHint);
  }
  const std::string text = fd.read(0, static_cast<size_t>(fd.size()));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(name, std::string("the sidecar is not valid JSON: ") + e.what(), kSidecarHint);
  }
  if (!j.is_object()) {
    throw Error(name, "the sidecar is a JSON " + std::string(j.type_name()) + ", not an object",
                kSidecarHint);
  }
  const auto field = [&](const char* key, bool required) -> const nlohmann::json* {
    const auto it = j.find(key);
    if (it == j.end()) {
      if (required) throw Error(name + ": " + key, "is missing", kSidecarHint);
      return nullptr;
    }
    return &*it;
  };
  const auto integer = [&](const char* key, bool required, int64_t max) -> int64_t {
    const nlohmann::json* v = field(key, required);
    if (v == nullptr) return -1;
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > max) {
      throw Error(
          name + ": " + key,
          v->dump().substr(0, 40) + " is not an integer in [0, " + std::to_string(max) + "]",
          kSidecarHint);
    }
    return v->get<int64_t>();
  };
  const auto string = [&](const char* key, bool required) -> std::string {
    const nlohmann::json* v = field(key, required);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      throw Error(name + ": " + key, "is a " + std::string(v->type_name()) + ", not a string",
                  kSidecarHint);
    }
    return v->get<std::string>();
  };
  if (const std::string format = string("format", true); format != "neurolens-tokens") {
    throw Error(name + ": format", "is \"" + format + "\", not \"neurolens-tokens\"", kSidecarHint);
  }
  if (const int64_t version = integer("version", true, 1000000); version != 1) {
    throw Error(name + ": version", "is " + std::to_string(version) + ", this build reads 1",
                "write the file again with this version of neurolens tokenize");
  }
  const std::string dtype = string("dtype", true);
  if (dtype != "uint16" && dtype != "uint32") {
    throw Error(name + ": dtype", "is \"" + dtype + "\", not \"uint16\" or \"uint32\"",
                kSidecarHint);
  }
  const int width = dtype == "uint16" ? 2 : 4;
  if (is_npy && width != tf.width) {
    throw Error(name + ": dtype",
                "says " + dtype + " but the .npy holds " + std::to_string(tf.width) + "-byte ids",
                kSidecarHint);
  }
  tf.width = width;
  TokenCorpusInfo& s = tf.sidecar;
  s.width = width;
  s.has_sidecar = true;
  s.eot = static_cast<int32_t>(integer("eot", true, std::numeric_limits<int32_t>::max()));
  s.tokenizer = string("tokenizer", false);
  s.tokenizer_fingerprint = string("tokenizer_fingerprint", false);
  s.vocab_size = std::max<int64_t>(0, integer("vocab_size", false, int64_t{1} << 32));
  s.documents = integer("documents", false, std::numeric_limits<int64_t>::max());
  s.tokens = integer("tokens", false, std::numeric_limits<int64_t>::max());
  tf.has_sidecar = true;
}

}  // namespace neurolens::io::detail
