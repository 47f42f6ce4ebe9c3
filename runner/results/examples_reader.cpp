#include "runner/results/examples_reader.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string_view>

#include "io/error.hpp"
#include "io/hdf5.hpp"

namespace neurolens::runner {
namespace {

constexpr const char* kRerun =
    "rerun the job (study = examples); the file is not a complete examples results file";

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

size_t product(const std::vector<hsize_t>& dims) {
  size_t n = 1;
  for (hsize_t d : dims) n *= static_cast<size_t>(d);
  return n;
}

// Length of a UTF-8 sequence from its lead byte (0: never a lead byte).
int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether `c` may follow the bytes `seq` (lead byte first) of a sequence (Unicode table 3-7).
bool valid_continuation(const std::string& seq, unsigned char c) {
  if (c < 0x80 || c > 0xBF) return false;
  if (seq.size() != 1) return true;
  const auto lead = static_cast<unsigned char>(seq[0]);
  if (lead == 0xE0) return c >= 0xA0;
  if (lead == 0xED) return c <= 0x9F;
  if (lead == 0xF0) return c >= 0x90;
  if (lead == 0xF4) return c <= 0x8F;
  return true;
}

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

struct ExamplesFile::Impl {
  std::string path;
  io::H5File file;
  ExamplesInfo info;
  std::vector<ExamplesSite> sites;
  std::vector<int64_t> token_offsets;  // [V + 1]
  std::string token_bytes;
  std::vector<uint8_t> special;                                       // [V]
  std::vector<int64_t> random_window, random_document, random_start;  // [R]
  std::vector<int32_t> random_tokens;                                 // [R, T]

  std::string context(const std::string& object) const { return path + ":" + object; }

  int64_t int_attribute(const std::string& object, const std::string& name) const {
    if (!file.has_attribute(object, name)) {
      throw Error(context(object) + "@" + name, "missing attribute", kRerun);
    }
    const double v = file.number_attribute(object, name);
    if (!std::isfinite(v) || v < 0 || v != std::floor(v)) {
      throw Error(context(object) + "@" + name, "is not a count (" + std::to_string(v) + ")",
                  kRerun);
    }
    return static_cast<int64_t>(v);
  }

  std::string string_attribute(const std::string& object, const std::string& name) const {
    if (!file.has_attribute(object, name) || !file.is_string_attribute(object, name)) return "";
    return file.string_attribute(object, name);
  }

  io::H5Dataset dataset(const std::string& object, const std::vector<hsize_t>& expected) const {
    if (!file.is_dataset(object)) throw Error(context(object), "missing dataset", kRerun);
    io::H5Dataset d = file.open_dataset(object);
    if (d.dims() != expected) {
      throw Error(context(object),
                  "has shape " + shape_text(d.dims()) + ", expected " + shape_text(expected) +
                      " (docs/examples.md)",
                  kRerun);
    }
    return d;
  }

  template <typename T>
  std::vector<T> read_whole(const std::string& object, const std::vector<hsize_t>& expected,
                            io::H5Type as) const {
    io::H5Dataset d = dataset(object, expected);
    std::vector<T> out(product(expected));
    if (!out.empty()) d.read_all(as, out.data());
    return out;
  }

  // Row `row` of /<site>/<name>, shape [L, W, inner...]: the [1, W, inner...] block.
  template <typename T>
  std::vector<T> read_row(const ExamplesSite& site, size_t row, const std::string& name,
                          std::vector<hsize_t> inner, io::H5Type as) const {
    std::vector<hsize_t> dims = {static_cast<hsize_t>(site.layers.size()),
                                 static_cast<hsize_t>(site.width)};
    dims.insert(dims.end(), inner.begin(), inner.end());
    io::H5Dataset d = dataset("/" + site.name + "/" + name, dims);
    std::vector<hsize_t> offset(dims.size(), 0), count = dims;
    offset[0] = static_cast<hsize_t>(row);
    count[0] = 1;
    std::vector<T> out(product(count));
    if (!out.empty()) d.read_block(offset, count, as, out.data());
    return out;
  }

  // An f16 row of activations, read as stored and widened here (HDF5's soft f16 -> f32
  // conversion costs more than the rest of `neurolens site`'s reading); other types via HDF5.
  std::vector<float> read_row_activations(const ExamplesSite& site, size_t row,
                                          const std::string& name,
                                          std::vector<hsize_t> inner) const {
    std::vector<hsize_t> dims = {static_cast<hsize_t>(site.layers.size()),
                                 static_cast<hsize_t>(site.width)};
    dims.insert(dims.end(), inner.begin(), inner.end());
    io::H5Dataset d = dataset("/" + site.name + "/" + name, dims);
    if (d.type() != io::H5Type::F16)
      return read_row<float>(site, row, name, inner, io::H5Type::F32);
    std::vector<hsize_t> offset(dims.size(), 0), count = dims;
    offset[0] = static_cast<hsize_t>(row);
    count[0] = 1;
    std::vector<uint16_t> bits(product(count));
    if (!bits.empty()) d.read_block(offset, count, io::H5Type::F16, bits.data());
    static const std::vector<float> table = [] {
      std::vector<float> t(65536);
      for (uint32_t h = 0; h < 65536; ++h) {
        const uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu,
                       mantissa = h & 0x3ffu;
        float v;
        if (exponent == 0) {
          v = std::ldexp(static_cast<float>(mantissa), -24);
        } else if (exponent == 31) {
          v = mantissa ? std::numeric_limits<float>::quiet_NaN()
                       : std::numeric_limits<float>::infinity();
        } else {
          v = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
        }
        t[h] = sign ? -v : v;
      }
      return t;
    }();
    std::vector<float> out(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) out[i] = table[bits[i]];
    return out;
  }

  void read_vocabulary() {
    const std::string g = "/examples/";
    if (!file.is_dataset(g + "token_offsets")) {
      throw Error(context(g + "token_offsets"), "missing dataset", kRerun);
    }
    const auto V = file.open_dataset(g + "token_offsets").dims();
    if (V.size() != 1 || V[0] < 1) {
      throw Error(context(g + "token_offsets"), "has shape " + shape_text(V) + ", expected [V + 1]",
                  kRerun);
    }
    const hsize_t vocab = V[0] - 1;
    token_offsets = read_whole<int64_t>(g + "token_offsets", {V[0]}, io::H5Type::I64);
    if (!file.is_dataset(g + "token_bytes")) {
      throw Error(context(g + "token_bytes"), "missing dataset", kRerun);
    }
    const auto B = file.open_dataset(g + "token_bytes").dims();
    if (B.size() != 1) {
      throw Error(context(g + "token_bytes"), "has shape " + shape_text(B) + ", expected [sum]",
                  kRerun);
    }
    const std::vector<uint8_t> bytes = read_whole<uint8_t>(g + "token_bytes", B, io::H5Type::U8);
    token_bytes.assign(bytes.begin(), bytes.end());
    for (size_t t = 0; t < vocab; ++t) {
      if (token_offsets[0] != 0 || token_offsets[t] > token_offsets[t + 1] ||
          token_offsets[t + 1] > static_cast<int64_t>(token_bytes.size())) {
        throw Error(context(g + "token_offsets"),
                    "is not increasing from 0 to the size of token_bytes (at token " +
                        std::to_string(t) + ")",
                    kRerun);
      }
    }
    special = read_whole<uint8_t>(g + "special_token", {vocab}, io::H5Type::U8);
  }

  void read_random() {
    const auto R = static_cast<hsize_t>(info.random_sample);
    const auto T = static_cast<hsize_t>(info.seq_len);
    random_window = read_whole<int64_t>("/examples/random_window", {R}, io::H5Type::I64);
    random_document = read_whole<int64_t>("/examples/random_document", {R}, io::H5Type::I64);
    random_start = read_whole<int64_t>("/examples/random_start", {R}, io::H5Type::I64);
    random_tokens = read_whole<int32_t>("/examples/random_tokens", {R, T}, io::H5Type::I32);
  }

  void find_sites() {
    for (const std::string& member : file.list("/")) {
      const std::string g = "/" + member;
      if (member == "examples" || file.is_dataset(g)) continue;
      if (!file.is_dataset(g + "/layer") || !file.is_dataset(g + "/neuron") ||
          !file.exists(g + "/top_value")) {
        continue;
      }
      ExamplesSite site;
      site.name = member;
      site.layers = file.open_dataset(g + "/layer").read_i64();
      const std::vector<hsize_t> w = file.open_dataset(g + "/neuron").dims();
      site.width = w.size() == 1 ? static_cast<int64_t>(w[0]) : 0;
      sites.push_back(std::move(site));
    }
  }
};

namespace {

// One [W, slots] block of windows (top, bottom or the reservoirs) of one layer row.
struct WindowBlock {
  size_t slots = 0, seq_len = 0;
  std::vector<float> value;
  std::vector<int64_t> window, document, start;
  std::vector<int32_t> position, tokens;
  std::vector<float> activations;

  // Slot `slot` of neuron `n`, or nothing for an empty slot (window id -1).
  bool take(size_t n, size_t slot, ExampleWindow& out) const {
    const size_t i = n * slots + slot;
    if (window[i] < 0) return false;
    out.window = window[i];
    out.document = document[i];
    out.start = start[i];
    out.value = value[i];
    out.position = position[i];
    const int32_t* tok = tokens.data() + i * seq_len;
    size_t len = seq_len;
    while (len > 0 && tok[len - 1] < 0) --len;
    out.tokens.assign(tok, tok + len);
    const float* act = activations.data() + i * seq_len;
    out.activations.assign(act, act + len);
    return true;
  }
};

}  // namespace

ExamplesFile::ExamplesFile(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(path, "no such file",
                "give the results file of a job with 'study = examples' (its key 'output')");
  }
  m.file = io::H5File::open_read_only(path);
  if (!m.file.has_attribute("/", "study") || !m.file.is_string_attribute("/", "study")) {
    throw Error(path, "not a neurolens results file (no root attribute 'study')",
                "give the results file of a job with 'study = examples'");
  }
  const std::string study = m.file.string_attribute("/", "study");
  if (study != "examples") {
    throw Error(path, "not an examples results file (study = " + study + ")",
                "give the results file of a job with 'study = examples'; 'neurolens report' "
                "and 'neurolens inspect' read the other studies");
  }
  if (!m.file.exists("/examples") || m.file.is_dataset("/examples")) {
    throw Error(path + ":/examples", "missing group", kRerun);
  }
  ExamplesInfo& info = m.info;
  const std::string g = "/examples";
  info.seq_len = m.int_attribute(g, "seq_len");
  info.top_k = m.int_attribute(g, "top_k");
  info.bottom_k = m.int_attribute(g, "bottom_k");
  info.per_quantile = m.int_attribute(g, "per_quantile");
  info.random_sample = m.int_attribute(g, "random_sample");
  info.bins = m.int_attribute(g, "bins");
  info.logit_tokens = m.int_attribute(g, "logit_tokens");
  info.pilot_windows = m.int_attribute(g, "pilot_windows");
  info.n_windows = m.int_attribute(g, "n_windows");
  info.n_tokens = m.int_attribute(g, "n_tokens");
  info.seed = m.int_attribute(g, "seed");
  info.model = m.string_attribute("/", "model");
  info.model_type = m.string_attribute("/", "model_type");
  info.tokenizer = m.string_attribute("/", "tokenizer");
  if (info.seq_len < 1) throw Error(path + ":/examples@seq_len", "must be at least 1", kRerun);
  m.read_vocabulary();
  m.read_random();
  m.find_sites();
  if (m.sites.empty()) {
    throw Error(path, "has no site group with examples (e.g. /mlp.hook_post/top_value)", kRerun);
  }
}

ExamplesFile::~ExamplesFile() = default;

const ExamplesInfo& ExamplesFile::info() const {
  return impl_->info;
}

const std::vector<ExamplesSite>& ExamplesFile::sites() const {
  return impl_->sites;
}

std::vector<NeuronExamples> ExamplesFile::read_layer(size_t site_index, size_t layer_index) const {
  const Impl& m = *impl_;
  if (site_index >= m.sites.size()) {
    throw Error(m.path, "site index " + std::to_string(site_index) + " out of range (" +
                            std::to_string(m.sites.size()) + " sites)");
  }
  const ExamplesSite& site = m.sites[site_index];
  if (layer_index >= site.layers.size()) {
    throw Error(m.path + ":/" + site.name, "layer row " + std::to_string(layer_index) +
                                               " out of range (" +
                                               std::to_string(site.layers.size()) + " rows)");
  }
  const ExamplesInfo& info = m.info;
  const auto W = static_cast<size_t>(site.width);
  const auto T = static_cast<hsize_t>(info.seq_len);
  const auto bins = static_cast<hsize_t>(info.bins);
  const size_t row = layer_index;
  using io::H5Type;

  auto f64 = [&](const char* name) { return m.read_row<double>(site, row, name, {}, H5Type::F64); };
  auto f32 = [&](const char* name) { return m.read_row<float>(site, row, name, {}, H5Type::F32); };
  auto block = [&](const std::string& prefix, std::vector<hsize_t> inner) {
    WindowBlock b;
    b.slots = product(inner);
    b.seq_len = static_cast<size_t>(T);
    std::vector<hsize_t> with_t = inner;
    with_t.push_back(T);
    b.value = m.read_row<float>(site, row, prefix + "_value", inner, H5Type::F32);
    b.window = m.read_row<int64_t>(site, row, prefix + "_window", inner, H5Type::I64);
    b.document = m.read_row<int64_t>(site, row, prefix + "_document", inner, H5Type::I64);
    b.start = m.read_row<int64_t>(site, row, prefix + "_start", inner, H5Type::I64);
    b.position = m.read_row<int32_t>(site, row, prefix + "_position", inner, H5Type::I32);
    b.tokens = m.read_row<int32_t>(site, row, prefix + "_tokens", with_t, H5Type::I32);
    b.activations = m.read_row_activations(site, row, prefix + "_activations", with_t);
    return b;
  };

  const std::vector<double> mean = f64("mean"), variance = f64("variance"),
                            skewness = f64("skewness"), kurtosis = f64("kurtosis"),
                            frac_positive = f64("frac_positive");
  const std::vector<float> max_activation = f32("max_activation"),
                           min_activation = f32("min_activation");
  const std::vector<float> hist_edges =
      m.read_row<float>(site, row, "hist_edges", {bins + 1}, H5Type::F32);
  const std::vector<int64_t> hist_counts =
      m.read_row<int64_t>(site, row, "hist_counts", {bins + 2}, H5Type::I64);
  const std::vector<float> boundaries =
      m.read_row<float>(site, row, "quantile_boundaries", {5}, H5Type::F32);
  const std::vector<int64_t> counts =
      m.read_row<int64_t>(site, row, "quantile_count", {5}, H5Type::I64);

  const WindowBlock top = block("top", {static_cast<hsize_t>(info.top_k)});
  const bool has_bottom = info.bottom_k > 0 && m.file.exists("/" + site.name + "/bottom_value");
  const WindowBlock bottom =
      has_bottom ? block("bottom", {static_cast<hsize_t>(info.bottom_k)}) : WindowBlock{};
  const auto q = static_cast<hsize_t>(info.per_quantile);
  const WindowBlock quantile = block("quantile", {4, q});

  const auto R = static_cast<hsize_t>(info.random_sample);
  const std::vector<float> random_value =
      m.read_row<float>(site, row, "random_value", {R}, H5Type::F32);
  const std::vector<int32_t> random_position =
      m.read_row<int32_t>(site, row, "random_position", {R}, H5Type::I32);
  const std::vector<float> random_activations =
      m.read_row_activations(site, row, "random_activations", {R, T});

  const auto n_logit = static_cast<hsize_t>(info.logit_tokens);
  const bool has_logit = n_logit > 0 && m.file.exists("/" + site.name + "/logit_top_token");
  std::vector<int32_t> logit_top_token, logit_bottom_token;
  std::vector<float> logit_top_value, logit_bottom_value;
  if (has_logit) {
    logit_top_token = m.read_row<int32_t>(site, row, "logit_top_token", {n_logit}, H5Type::I32);
    logit_bottom_token =
        m.read_row<int32_t>(site, row, "logit_bottom_token", {n_logit}, H5Type::I32);
    logit_top_value = m.read_row<float>(site, row, "logit_top_value", {n_logit}, H5Type::F32);
    logit_bottom_value = m.read_row<float>(site, row, "logit_bottom_value", {n_logit}, H5Type::F32);
  }

  std::vector<NeuronExamples> out(W);
  for (size_t n = 0; n < W; ++n) {
    NeuronExamples& e = out[n];
    e.layer = site.layers[row];
    e.neuron = static_cast<int64_t>(n);
    e.mean = mean[n];
    e.variance = variance[n];
    e.skewness = skewness[n];
    e.kurtosis = kurtosis[n];
    e.frac_positive = frac_positive[n];
    e.max_activation = max_activation[n];
    e.min_activation = min_activation[n];
    e.hist_edges.assign(hist_edges.begin() + static_cast<ptrdiff_t>(n * (bins + 1)),
                        hist_edges.begin() + static_cast<ptrdiff_t>((n + 1) * (bins + 1)));
    e.hist_counts.assign(hist_counts.begin() + static_cast<ptrdiff_t>(n * (bins + 2)),
                         hist_counts.begin() + static_cast<ptrdiff_t>((n + 1) * (bins + 2)));
    for (size_t i = 0; i < 5; ++i) {
      e.quantile_boundaries[i] = boundaries[n * 5 + i];
      e.quantile_count[i] = counts[n * 5 + i];
    }
    ExampleWindow w;
    for (size_t s = 0; s < top.slots; ++s) {
      if (top.take(n, s, w)) e.top.push_back(std::move(w));
    }
    for (size_t s = 0; s < bottom.slots; ++s) {
      if (bottom.take(n, s, w)) e.bottom.push_back(std::move(w));
    }
    for (size_t b = 0; b < 4; ++b) {
      for (size_t j = 0; j < q; ++j) {
        if (quantile.take(n, b * q + j, w)) e.quantiles[b].push_back(std::move(w));
      }
    }
    for (size_t r = 0; r < R; ++r) {
      if (m.random_window[r] < 0) continue;
      ExampleWindow x;
      x.window = m.random_window[r];
      x.document = m.random_document[r];
      x.start = m.random_start[r];
      x.value = random_value[n * R + r];
      x.position = random_position[n * R + r];
      const int32_t* tok = m.random_tokens.data() + r * T;
      size_t len = static_cast<size_t>(T);
      while (len > 0 && tok[len - 1] < 0) --len;
      x.tokens.assign(tok, tok + len);
      const float* act = random_activations.data() + (n * R + r) * T;
      x.activations.assign(act, act + len);
      e.random.push_back(std::move(x));
    }
    for (size_t i = 0; i < n_logit && has_logit; ++i) {
      if (logit_top_token[n * n_logit + i] >= 0) {
        e.logit_top.push_back({logit_top_token[n * n_logit + i], logit_top_value[n * n_logit + i]});
      }
      if (logit_bottom_token[n * n_logit + i] >= 0) {
        e.logit_bottom.push_back(
            {logit_bottom_token[n * n_logit + i], logit_bottom_value[n * n_logit + i]});
      }
    }
  }
  return out;
}

int64_t ExamplesFile::vocab_size() const {
  return static_cast<int64_t>(impl_->special.size());
}

std::string_view ExamplesFile::token_bytes(int32_t id) const {
  const Impl& m = *impl_;
  if (id < 0 || id >= vocab_size()) return {};
  const auto begin = static_cast<size_t>(m.token_offsets[static_cast<size_t>(id)]);
  const auto end = static_cast<size_t>(m.token_offsets[static_cast<size_t>(id) + 1]);
  return std::string_view(m.token_bytes).substr(begin, end - begin);
}

bool ExamplesFile::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[static_cast<size_t>(id)] != 0;
}

std::vector<std::string> ExamplesFile::display_tokens(std::span<const int32_t> tokens) const {
  std::vector<std::string> out(tokens.size());
  // Bytes of an unfinished character and the token that holds its last byte so far.
  std::string pending;
  size_t pending_at = 0;
  auto give_up = [&] {  // the pending bytes never form a character
    if (!pending.empty()) out[pending_at] += kReplacement;
    pending.clear();
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab_size()) {
      give_up();
      continue;
    }
    for (const char ch : token_bytes(tokens[i])) {
      const auto c = static_cast<unsigned char>(ch);
      if (!pending.empty()) {
        if (valid_continuation(pending, c)) {
          pending += ch;
          pending_at = i;
          if (pending.size() ==
              static_cast<size_t>(sequence_length(static_cast<unsigned char>(pending[0])))) {
            out[i] += pending;
            pending.clear();
          }
          continue;
        }
        give_up();
      }
      const int len = sequence_length(c);
      if (len == 1) {
        out[i] += ch;
      } else if (len == 0) {
        out[i] += kReplacement;
      } else {
        pending = std::string(1, ch);
        pending_at = i;
      }
    }
  }
  give_up();
  return out;
}

}  // namespace neurolens::runner
