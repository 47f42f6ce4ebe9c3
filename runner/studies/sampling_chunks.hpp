// Chunks — the windows of the corpus-sweeping studies (sampling, length): every document cut into
// consecutive, non-overlapping chunks of T tokens from its first token, the tail shorter than T
// dropped; every position of every chunk is a sample (label 0, its token recorded; not at special
// tokens when `special` is given), unless
// `with_samples` is false (neurolens capture: the chunks only).
// Legend: T tokens per chunk.
// Example:
//   Plan plan = build_plan(corpus, tok, chunk_finder(256), comm, /*max_windows=*/0, max_tokens);
//   plan.windows[i] is chunk i in document order; plan.samples[i * 256 + p] its position p.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/error.hpp"
#include "model/load/config.hpp"
#include "runner/engine/plan.hpp"

namespace neurolens::runner {

// `special` ([V] flags, special_token_flags): positions holding a special token (a document's
// BOS) are not samples; empty: every position is one.
inline WindowFinder chunk_finder(int32_t seq_len, bool with_samples = true,
                                 std::vector<uint8_t> special = {}) {
  return [seq_len, with_samples, special = std::move(special)](const io::Document&,
                                                               const std::vector<int32_t>& tokens) {
    DocumentFinds finds;
    const auto n = static_cast<int64_t>(tokens.size());
    for (int64_t start = 0; start + seq_len <= n; start += seq_len) {
      const auto window = static_cast<int64_t>(finds.windows.size());
      WindowSpec w;
      w.start = start;
      w.length = seq_len;
      finds.windows.push_back(w);
      if (!with_samples) continue;
      for (int32_t p = 0; p < seq_len; ++p) {
        const int32_t token = tokens[static_cast<size_t>(start + p)];
        if (token >= 0 && static_cast<size_t>(token) < special.size() &&
            special[static_cast<size_t>(token)]) {
          continue;
        }
        finds.samples.push_back({window, p, 0, -1, token, -1});
      }
    }
    return finds;
  };
}

// Throws when chunks of seq_len tokens do not fit the model's positions.
inline void check_seq_len(int32_t seq_len, const model::ModelConfig& config,
                          const std::string& key) {
  if (seq_len > config.n_positions) {
    throw Error(key,
                std::to_string(seq_len) + " tokens exceed the model's " +
                    std::to_string(config.n_positions) + " positions",
                "use " + key + " = " + std::to_string(config.n_positions) + " or less");
  }
}

}  // namespace neurolens::runner
