#include "model/load/config.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"

namespace neurolens::model {

using nlohmann::json;

ConfigReader::ConfigReader(const std::filesystem::path& path, const json& j)
    : file_(path.string()), j_(j) {}

std::string ConfigReader::ctx(const std::string& key) const {
  return file_ + ": " + key;
}

bool ConfigReader::has(const std::string& key) const {
  return j_.contains(key) && !j_.at(key).is_null();
}

bool ConfigReader::present(const std::string& key) const {
  return j_.is_object() && j_.contains(key);
}

void ConfigReader::check_heads_divide(const std::string& heads_key, int heads,
                                      const std::string& width_key, int width) const {
  if (width % heads != 0) {
    throw Error(
        ctx(heads_key),
        std::to_string(heads) + " does not divide " + width_key + " " + std::to_string(width),
        "fix " + heads_key + " or " + width_key + " in config.json");
  }
}

const json& ConfigReader::at(const std::string& key) const {
  return j_.at(key);
}

int ConfigReader::positive_int(const std::string& key, const std::string& meaning) const {
  if (!j_.contains(key)) {
    throw Error(ctx(key), "missing", "set " + key + " to " + meaning + " in config.json");
  }
  return positive_int_value(key, j_.at(key), meaning);
}

int ConfigReader::positive_int_value(const std::string& key, const json& v,
                                     const std::string& meaning) const {
  if (!v.is_number_integer() || v.get<std::int64_t>() <= 0 ||
      v.get<std::int64_t>() > std::numeric_limits<int>::max()) {
    throw Error(ctx(key), v.dump() + " is not a positive integer",
                "set " + key + " to " + meaning + " in config.json");
  }
  return v.get<int>();
}

float ConfigReader::epsilon(const std::string& key) const {
  if (!has(key)) return 1e-5f;  // Hugging Face default for both architectures
  const json& v = j_.at(key);
  if (!v.is_number() || !(v.get<double>() > 0.0) || v.get<double>() > 1.0) {
    throw Error(ctx(key), v.dump() + " is not a small positive number",
                "set " + key + " to e.g. 1e-05");
  }
  return static_cast<float>(v.get<double>());
}

int ConfigReader::four_times(const std::string& width_key, int width) const {
  if (width > std::numeric_limits<int>::max() / 4) {
    throw Error(ctx(width_key),
                std::to_string(width) + " is too large (4 * it, the default MLP width, overflows)",
                "set " + width_key + " to the model's real hidden size");
  }
  return 4 * width;
}

int ConfigReader::layer_count(const std::string& key, const std::string& meaning) const {
  const int n = positive_int(key, meaning);
  if (n > kMaxLayers) {
    throw Error(ctx(key),
                std::to_string(n) + " layers is more than the " + std::to_string(kMaxLayers) +
                    " neurolens supports",
                "set " + key + " to " + meaning + " in config.json");
  }
  return n;
}

std::string ConfigReader::activation(const std::string& key) const {
  if (!has(key)) return "gelu_new";  // Hugging Face default for both architectures
  const json& v = j_.at(key);
  if (!v.is_string() || v.get<std::string>() != "gelu_new") {
    throw Error(ctx(key), v.dump() + " is not supported (only \"gelu_new\")",
                "use a checkpoint trained with activation_function \"gelu_new\"");
  }
  return "gelu_new";
}

std::string ConfigReader::activation(const std::string& key,
                                     const std::vector<std::string>& allowed,
                                     const std::string& fallback) const {
  if (!has(key)) return fallback;
  const json& v = j_.at(key);
  std::string names;
  for (std::size_t i = 0; i < allowed.size(); ++i) names += (i ? ", \"" : "\"") + allowed[i] + "\"";
  if (v.is_string()) {
    for (const std::string& a : allowed) {
      if (v.get<std::string>() == a) return a;
    }
  }
  throw Error(ctx(key), v.dump() + " is not an implemented activation (" + names + ")",
              "use a checkpoint whose " + key + " is one of " + names);
}

double ConfigReader::number(const std::string& key, double fallback,
                            const std::string& meaning) const {
  if (!has(key)) return fallback;
  const json& v = j_.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>())) {
    throw Error(ctx(key), v.dump() + " is not a number", "set " + key + " to " + meaning);
  }
  return v.get<double>();
}

bool ConfigReader::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const json& v = j_.at(key);
  if (!v.is_boolean()) {
    throw Error(ctx(key), v.dump() + " is not a boolean", "set " + key + " to true or false");
  }
  return v.get<bool>();
}

RopeScaling ConfigReader::rope_scaling(const std::string& key) const {
  RopeScaling s;
  if (!has(key)) return s;
  const json& v = j_.at(key);
  if (!v.is_object()) {
    throw Error(ctx(key), v.dump() + " is not an object",
                "set " + key + " to null or {\"rope_type\": \"linear\", \"factor\": 2.0}");
  }
  std::string type;
  for (const char* name : {"rope_type", "type"}) {
    if (v.contains(name) && v[name].is_string()) {
      type = v[name].get<std::string>();
      break;
    }
  }
  const auto field = [&](const char* name, double fallback) {
    if (!v.contains(name) || v[name].is_null()) return fallback;
    if (!v[name].is_number() || !(v[name].get<double>() > 0.0)) {
      throw Error(ctx(key + "." + name), v[name].dump() + " is not a positive number",
                  "fix " + key + "." + name + " in config.json");
    }
    return v[name].get<double>();
  };
  if (type == "default") return s;
  if (type == "linear") {
    s.kind = RopeScalingKind::Linear;
    s.factor = field("factor", 1.0);
  } else if (type == "llama3") {
    s.kind = RopeScalingKind::Llama3;
    s.factor = field("factor", 8.0);
    s.low_freq_factor = field("low_freq_factor", 1.0);
    s.high_freq_factor = field("high_freq_factor", 4.0);
    s.original_max_position_embeddings =
        static_cast<int>(field("original_max_position_embeddings", 8192));
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      throw Error(ctx(key + ".high_freq_factor"), "must be greater than low_freq_factor",
                  "fix " + key + " in config.json");
    }
  } else {
    throw Error(ctx(key + ".rope_type"),
                (type.empty() ? std::string("missing") : "\"" + type + "\" is not supported"),
                "neurolens implements rope_scaling types \"linear\" and \"llama3\" (or null)");
  }
  return s;
}

ModelConfig parse_model_config(const std::filesystem::path& config_json) {
  const std::string file = config_json.string();
  std::ifstream in(config_json, std::ios::binary);
  if (!in) {
    throw Error(file, "cannot open",
                "point at a Hugging Face model directory containing config.json");
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
  const ConfigReader r(config_json, j);
  ModelConfig c;
  if (!j.contains("model_type") || !j["model_type"].is_string()) {
    std::string types;
    const std::vector<std::string> names = architecture_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      types += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("\"" + names[i] + "\"");
    }
    throw Error(r.ctx("model_type"), "missing or not a string", "set model_type to " + types);
  }
  c.model_type = j["model_type"].get<std::string>();
  find_architecture(c.model_type, r.ctx("model_type")).parse_config(r, c);
  return c;
}

}  // namespace neurolens::model
