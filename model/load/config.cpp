#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/error.hpp"
#include "model/load/config.hpp"

namespace neurolens::model {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const std::filesystem::path& path, const json& j) : file_(path.string()), j_(j) {}

  std::string ctx(const std::string& key) const { return file_ + ": " + key; }

  bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int positive_int(const std::string& key, const std::string& meaning) const {
    if (!j_.contains(key)) {
      throw Error(ctx(key), "missing", "set " + key + " to " + meaning + " in config.json");
    }
    return positive_int_value(key, j_.at(key), meaning);
  }

  int positive_int_value(const std::string& key, const json& v, const std::string& meaning) const {
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0 ||
        v.get<std::int64_t>() > std::numeric_limits<int>::max()) {
      throw Error(ctx(key), v.dump() + " is not a positive integer",
                  "set " + key + " to " + meaning + " in config.json");
    }
    return v.get<int>();
  }

  float epsilon(const std::string& key) const {
    if (!has(key)) return 1e-5f;  // Hugging Face default for both architectures
    const json& v = j_.at(key);
    if (!v.is_number() || !(v.get<double>() > 0.0) || v.get<double>() > 1.0) {
      throw Error(ctx(key), v.dump() + " is not a small positive number",
                  "set " + key + " to e.g. 1e-05");
    }
    return static_cast<float>(v.get<double>());
  }

  // 4 * width (the MLP default), refused when it does not fit in an int (no signed overflow).
  int four_times(const std::string& width_key, int width) const {
    if (width > std::numeric_limits<int>::max() / 4) {
      throw Error(ctx(width_key), std::to_string(width) + " is too large (4 * it, the default MLP width, overflows)",
                  "set " + width_key + " to the model's real hidden size");
    }
    return 4 * width;
  }

  // A layer count that bounds the per-layer allocations made before any weight is read.
  int layer_count(const std::string& key, const std::string& meaning) const {
    const int n = positive_int(key, meaning);
    if (n > kMaxLayers) {
      throw Error(ctx(key), std::to_string(n) + " layers is more than the " +
                                std::to_string(kMaxLayers) + " neurolens supports",
                  "set " + key + " to " + meaning + " in config.json");
    }
    return n;
  }
  static constexpr int kMaxLayers = 65536;

  std::string activation(const std::string& key) const {
    if (!has(key)) return "gelu_new";  // Hugging Face default for both architectures
    const json& v = j_.at(key);
    if (!v.is_string() || v.get<std::string>() != "gelu_new") {
      throw Error(ctx(key), v.dump() + " is not supported (only \"gelu_new\")",
                  "use a checkpoint trained with activation_function \"gelu_new\"");
    }
    return "gelu_new";
  }

  const json& at(const std::string& key) const { return j_.at(key); }

 private:
  std::string file_;
  const json& j_;
};

AttentionKind parse_kind(const Reader& r, const std::string& key, const json& v) {
  if (v.is_string() && v.get<std::string>() == "global") return AttentionKind::Global;
  if (v.is_string() && v.get<std::string>() == "local") return AttentionKind::Local;
  throw Error(r.ctx(key), v.dump() + " is not an attention kind",
              "use \"global\" or \"local\"");
}

void parse_gpt2(const Reader& r, ModelConfig& c) {
  c.architecture = Architecture::Gpt2;
  c.d_model = r.positive_int("n_embd", "the hidden size (768 for gpt2)");
  c.n_layers = r.layer_count("n_layer", "the number of blocks (12 for gpt2)");
  c.n_heads = r.positive_int("n_head", "the number of attention heads (12 for gpt2)");
  if (r.has("n_positions")) {
    c.n_positions = r.positive_int("n_positions", "the context length (1024 for gpt2)");
  } else {
    c.n_positions = r.positive_int("n_ctx", "the context length (1024 for gpt2)");
  }
  c.n_vocab = r.positive_int("vocab_size", "the vocabulary size (50257 for gpt2)");
  c.d_mlp = r.has("n_inner") ? r.positive_int("n_inner", "the MLP width, or null for 4 * n_embd")
                             : r.four_times("n_embd", c.d_model);
  c.layer_norm_eps = r.epsilon("layer_norm_epsilon");
  c.activation = r.activation("activation_function");
  c.attention_kinds.assign(static_cast<std::size_t>(c.n_layers), AttentionKind::Global);
  c.window_size = 0;
  c.scale_attention_scores = true;
  if (c.d_model % c.n_heads != 0) {
    throw Error(r.ctx("n_head"),
                std::to_string(c.n_heads) + " does not divide n_embd " + std::to_string(c.d_model),
                "fix n_head or n_embd in config.json");
  }
}

void parse_gpt_neo(const Reader& r, ModelConfig& c) {
  c.architecture = Architecture::GptNeo;
  c.d_model = r.positive_int("hidden_size", "the hidden size (768 for gpt-neo-125M)");
  c.n_layers = r.layer_count("num_layers", "the number of blocks");
  c.n_heads = r.positive_int("num_heads", "the number of attention heads");
  c.n_positions = r.positive_int("max_position_embeddings", "the context length (2048)");
  c.n_vocab = r.positive_int("vocab_size", "the vocabulary size (50257)");
  c.d_mlp = r.has("intermediate_size")
                ? r.positive_int("intermediate_size", "the MLP width, or null for 4 * hidden_size")
                : r.four_times("hidden_size", c.d_model);
  c.layer_norm_eps = r.epsilon("layer_norm_epsilon");
  c.activation = r.activation("activation_function");
  c.window_size = r.has("window_size") ? r.positive_int("window_size", "the local window (256)")
                                       : 256;
  c.scale_attention_scores = false;
  if (c.d_model % c.n_heads != 0) {
    throw Error(r.ctx("num_heads"),
                std::to_string(c.n_heads) + " does not divide hidden_size " +
                    std::to_string(c.d_model),
                "fix num_heads or hidden_size in config.json");
  }

  const std::string hint_types =
      "write attention_types as [[[\"global\", \"local\"], repeat], ...] covering num_layers";
  std::vector<AttentionKind> kinds;
  if (r.has("attention_types")) {
    const json& types = r.at("attention_types");
    if (!types.is_array()) throw Error(r.ctx("attention_types"), "is not a list", hint_types);
    for (std::size_t i = 0; i < types.size(); ++i) {
      const std::string key = "attention_types[" + std::to_string(i) + "]";
      const json& entry = types[i];
      if (!entry.is_array() || entry.size() != 2 || !entry[0].is_array() || entry[0].empty() ||
          !entry[1].is_number_integer() || entry[1].get<std::int64_t>() < 0 ||
          entry[1].get<std::int64_t>() > 100000) {
        throw Error(r.ctx(key), entry.dump() + " is not [[kinds...], repeat]", hint_types);
      }
      std::vector<AttentionKind> pattern;
      for (const auto& k : entry[0]) pattern.push_back(parse_kind(r, key, k));
      for (std::int64_t rep = 0; rep < entry[1].get<std::int64_t>(); ++rep) {
        kinds.insert(kinds.end(), pattern.begin(), pattern.end());
        if (kinds.size() > static_cast<std::size_t>(c.n_layers)) break;  // bounded: refused below
      }
      if (kinds.size() > static_cast<std::size_t>(c.n_layers)) break;
    }
    if (kinds.size() != static_cast<std::size_t>(c.n_layers)) {
      throw Error(r.ctx("attention_types"),
                  "expands to " +
                      (kinds.size() > static_cast<std::size_t>(c.n_layers) ? std::string("more than ") : std::string()) +
                      std::to_string(std::min(kinds.size(), static_cast<std::size_t>(c.n_layers))) +
                      " layers but num_layers is " +
                      std::to_string(c.n_layers),
                  hint_types);
    }
  }
  if (r.has("attention_layers")) {
    const json& layers = r.at("attention_layers");
    if (!layers.is_array()) {
      throw Error(r.ctx("attention_layers"), "is not a list", "list one kind per layer");
    }
    std::vector<AttentionKind> listed;
    for (const auto& k : layers) listed.push_back(parse_kind(r, "attention_layers", k));
    if (listed.size() != static_cast<std::size_t>(c.n_layers)) {
      throw Error(r.ctx("attention_layers"),
                  "has " + std::to_string(listed.size()) + " entries but num_layers is " +
                      std::to_string(c.n_layers),
                  "list one kind per layer");
    }
    if (kinds.empty()) {
      kinds = listed;
    } else if (kinds != listed) {
      throw Error(r.ctx("attention_layers"), "disagrees with attention_types",
                  "make attention_layers the expansion of attention_types (or remove it)");
    }
  }
  if (kinds.empty()) {
    throw Error(r.ctx("attention_types"), "missing", hint_types);
  }
  c.attention_kinds = std::move(kinds);
}

}  // namespace

ModelConfig parse_model_config(const std::filesystem::path& config_json) {
  const std::string file = config_json.string();
  std::ifstream in(config_json, std::ios::binary);
  if (!in) {
    throw Error(file, "cannot open", "point at a Hugging Face model directory containing config.json");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {
    throw Error(file, std::string("invalid JSON: ") + e.what(), "fix or re-download config.json");
  }
  if (!j.is_object()) throw Error(file, "is not a JSON object", "fix or re-download config.json");
  const Reader r(config_json, j);
  ModelConfig c;
  if (!j.contains("model_type") || !j["model_type"].is_string()) {
    throw Error(r.ctx("model_type"), "missing or not a string",
                "set model_type to \"gpt2\" or \"gpt_neo\"");
  }
  c.model_type = j["model_type"].get<std::string>();
  if (c.model_type == "gpt2") {
    parse_gpt2(r, c);
  } else if (c.model_type == "gpt_neo") {
    parse_gpt_neo(r, c);
  } else {
    throw Error(r.ctx("model_type"), "\"" + c.model_type + "\" is not supported",
                "neurolens reads gpt2 and gpt_neo checkpoints");
  }
  return c;
}

}  // namespace neurolens::model
