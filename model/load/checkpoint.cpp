#include "model/load/checkpoint.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"
#include "model/load/safetensors.hpp"

namespace neurolens::model {
namespace fs = std::filesystem;
namespace {

struct Storage {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::deque<std::vector<float>> buffers;  // converted F16/BF16 (or misaligned F32) tensors
};

struct Located {
  const SafetensorsFile* file = nullptr;
  const TensorInfo* info = nullptr;
};

void require_file(const fs::path& p, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    throw Error(p.string(), "missing (" + what + ")",
                "copy " + p.filename().string() + " from the Hugging Face model repository");
  }
}

// "gpt2 / gpt_neo": the architectures neurolens reads.
std::string supported() {
  std::string s;
  for (const std::string& name : architecture_names()) s += (s.empty() ? "" : " / ") + name;
  return s;
}

bool plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

class Loader : public TensorSource {
 public:
  Loader(const fs::path& dir, const ModelConfig& cfg, const ModelArchitecture& arch,
         Storage& storage, const WeightFileReader& read)
      : dir_(dir), cfg_(cfg), arch_(arch), storage_(storage), read_(read) {}

  void open_weights() {
    const fs::path single = dir_ / "model.safetensors";
    const fs::path index = dir_ / "model.safetensors.index.json";
    std::error_code ec;
    if (fs::exists(single, ec)) {
      source_ = single.string();
      storage_.files.push_back(std::make_unique<SafetensorsFile>(read_(single)));
      const SafetensorsFile* f = storage_.files.back().get();
      for (const auto& t : f->tensors()) tensors_[t.name] = {f, &t};
    } else if (fs::exists(index, ec)) {
      source_ = index.string();
      open_shards(index);
    } else {
      std::string hint =
          "download model.safetensors (or its shards and model.safetensors.index.json)";
      if (fs::exists(dir_ / "pytorch_model.bin", ec)) {
        hint =
            "only pytorch_model.bin is present; convert it with "
            "model.save_pretrained(dir, safe_serialization=True)";
      }
      throw Error(single.string(),
                  "missing (no model.safetensors nor model.safetensors.index.json)", hint);
    }
  }

  void open_shards(const fs::path& index) {
    const std::string file = index.string();
    std::ifstream in(index, std::ios::binary);
    if (!in) throw Error(file, "cannot open", "check permissions");
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception& e) {
      throw Error(file, std::string("invalid JSON: ") + e.what(), "re-download the index file");
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw Error(file + ": weight_map", "missing or not an object",
                  "re-download model.safetensors.index.json");
    }
    std::unordered_map<std::string, const SafetensorsFile*> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      const std::string ctx = file + ": weight_map[\"" + it.key() + "\"]";
      if (!it.value().is_string() || !plain_file_name(it.value().get<std::string>())) {
        throw Error(ctx, it.value().dump() + " is not a shard file name in the model directory",
                    "re-download model.safetensors.index.json");
      }
      const std::string shard = it.value().get<std::string>();
      auto found = shards.find(shard);
      if (found == shards.end()) {
        const fs::path p = dir_ / shard;
        std::error_code ec;
        if (!fs::is_regular_file(p, ec)) {
          throw Error(ctx, "shard " + p.string() + " is missing",
                      "download every model-XXXXX-of-YYYYY.safetensors listed in the index");
        }
        storage_.files.push_back(std::make_unique<SafetensorsFile>(read_(p)));
        found = shards.emplace(shard, storage_.files.back().get()).first;
      }
      const TensorInfo* t = found->second->find(it.key());
      if (t == nullptr) {
        throw Error(
            found->second->path().string() + ": " + it.key(),
            "listed in " + index.filename().string() + " weight_map but absent from this shard",
            "re-download the shard or the index; they come from different revisions");
      }
      tensors_[it.key()] = {found->second, t};
    }
  }

  // Chooses the key prefix among the architecture's ("" or "transformer." for GPT-2 / GPT-Neo)
  // by where its embedding tensor is.
  void detect_prefix() {
    const std::vector<std::string> prefixes = arch_.key_prefixes();
    const std::string anchor = arch_.embedding_tensor();
    const auto found = std::find_if(prefixes.begin(), prefixes.end(), [&](const std::string& p) {
      return tensors_.count(p + anchor) > 0;
    });
    if (found == prefixes.end()) {
      std::string names;
      for (std::size_t i = 0; i < prefixes.size(); ++i) {
        names += (i == 0 ? "" : " nor ") + prefixes[i] + anchor;
      }
      throw Error(source_ + ": " + anchor,
                  "missing tensor (" + std::string(prefixes.size() > 1 ? "neither " : "") + names +
                      (prefixes.size() > 1 ? " is present)" : " is not present)"),
                  "point at a " + supported() + " checkpoint; config.json says model_type \"" +
                      cfg_.model_type + "\"");
    }
    prefix_ = *found;
    // Blocks beyond n_layers mean config.json and the weights disagree.
    const std::string h = prefix_ + arch_.block_tensor_prefix();
    for (const auto& [name, loc] : tensors_) {
      if (name.compare(0, h.size(), h) != 0) continue;
      std::size_t pos = h.size();
      long layer = 0;
      bool digits = false;
      while (pos < name.size() && name[pos] >= '0' && name[pos] <= '9' && layer < 1000000) {
        layer = layer * 10 + (name[pos++] - '0');
        digits = true;
      }
      if (digits && layer >= cfg_.n_layers) {
        throw Error(loc.file->path().string() + ": " + name,
                    "belongs to block " + std::to_string(layer) + " but config.json has " +
                        std::to_string(cfg_.n_layers) + " layers",
                    "use the config.json that came with these weights");
      }
    }
  }

  const float* get(const std::string& key, const std::vector<std::int64_t>& expected,
                   const std::string& meaning) override {
    const std::string name = prefix_ + key;
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      throw Error(source_ + ": " + name, "missing tensor",
                  "the checkpoint is incomplete or not a " + cfg_.model_type + " checkpoint");
    }
    const SafetensorsFile& f = *it->second.file;
    const TensorInfo& t = *it->second.info;
    const std::string ctx = f.path().string() + ": " + name;
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16) {
      throw Error(ctx, std::string("dtype ") + dtype_name(t.dtype) + " is not supported",
                  "convert the checkpoint to F32, F16 or BF16");
    }
    if (t.shape != expected) {
      throw Error(ctx,
                  "shape " + shape_string(t.shape) + " contradicts config.json (expected " +
                      shape_string(expected) + " = " + meaning + ")",
                  "use the config.json that came with these weights");
    }
    const std::byte* p = f.data(t);
    if (t.dtype == DType::F32 && reinterpret_cast<std::uintptr_t>(p) % alignof(float) == 0) {
      used_.insert(name);
      return reinterpret_cast<const float*>(p);
    }
    storage_.buffers.push_back(to_f32(f, t));
    used_.insert(name);
    return storage_.buffers.back().data();
  }

  // Every tensor map_weights did not read must be one the architecture ignores.
  void check_unused() const {
    std::vector<std::string> extra;
    for (const auto& [name, loc] : tensors_) {
      if (used_.count(name)) continue;
      const bool prefixed = !prefix_.empty() && name.compare(0, prefix_.size(), prefix_) == 0;
      if (arch_.ignored_tensor(prefixed ? name.substr(prefix_.size()) : name)) continue;
      extra.push_back(name);
    }
    if (extra.empty()) return;
    std::sort(extra.begin(), extra.end());
    const Located& loc = tensors_.at(extra.front());
    throw Error(loc.file->path().string() + ": " + extra.front(),
                "unexpected tensor" +
                    (extra.size() > 1 ? " (and " + std::to_string(extra.size() - 1) + " more)"
                                      : std::string()) +
                    ": a " + cfg_.model_type + " model as config.json describes has no such weight",
                "use the config.json that came with these weights (model_type, layer flags such "
                "as use_parallel_residual or tie_word_embeddings)");
  }

 private:
  fs::path dir_;
  const ModelConfig& cfg_;
  const ModelArchitecture& arch_;
  Storage& storage_;
  const WeightFileReader& read_;
  std::string source_;  // model.safetensors or the index, for "missing tensor" errors
  std::string prefix_;
  std::unordered_map<std::string, Located> tensors_;
  std::unordered_set<std::string> used_;
};

}  // namespace

bool is_memory_mapped(const Model& m, const void* p) {
  const auto* b = static_cast<const std::byte*>(p);
  for (const auto& r : m.mapped) {
    if (!r.empty() && b >= r.data() && b < r.data() + r.size()) return true;
  }
  return false;
}

Model load_model(const fs::path& dir) {
  return load_model(dir, [](const fs::path& p) { return MappedFile(p); });
}

Model load_model(const fs::path& dir, const WeightFileReader& read) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(dir.string(), fs::exists(dir, ec) ? "not a directory" : "model directory not found",
                "pass the directory of a Hugging Face checkpoint (config.json, model.safetensors, "
                "tokenizer.json or vocab.json + merges.txt), e.g. made by 'neurolens synth-model "
                "--out DIR'");
  }
  Model m;
  m.dir = dir;
  require_file(dir / "config.json", "model configuration");
  m.config = parse_model_config(dir / "config.json");
  m.vocab_json = dir / "vocab.json";
  m.merges_txt = dir / "merges.txt";
  std::error_code tec;
  if (fs::is_regular_file(dir / "tokenizer.json", tec)) {
    m.tokenizer_json = dir / "tokenizer.json";  // preferred by Tokenizer::load_for_model
  } else {
    require_file(m.vocab_json, "tokenizer vocabulary; or give tokenizer.json");
    require_file(m.merges_txt, "tokenizer BPE merges; or give tokenizer.json");
  }

  auto storage = std::make_shared<Storage>();
  const ModelArchitecture& arch = architecture_of(m.config);
  Loader loader(dir, m.config, arch, *storage, read);
  loader.open_weights();
  loader.detect_prefix();
  m.weights = arch.map_weights(loader, m.config);
  loader.check_unused();
  for (const auto& f : storage->files) m.mapped.push_back(f->bytes());
  m.storage = std::move(storage);
  return m;
}

}  // namespace neurolens::model
