#include "runner/engine/plan.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "io/error.hpp"
#include "runner/parallel/mpi.hpp"

namespace neurolens::runner {
namespace {

// Flat encoding of one document's finds for the all-gather:
// [document, tokens_in_document, n_windows, n_samples,
//  n_windows x (start, length, unit, n_tokens, tokens...),
//  n_samples x (window, position, label, pair_id, token, word)]
void encode(int64_t document, int64_t n_tokens, const DocumentFinds& finds,
            std::vector<int64_t>& out) {
  out.push_back(document);
  out.push_back(n_tokens);
  out.push_back(static_cast<int64_t>(finds.windows.size()));
  out.push_back(static_cast<int64_t>(finds.samples.size()));
  for (const WindowSpec& w : finds.windows) {
    out.push_back(w.start);
    out.push_back(w.length);
    out.push_back(w.unit);
    out.push_back(static_cast<int64_t>(w.tokens.size()));
    out.insert(out.end(), w.tokens.begin(), w.tokens.end());
  }
  for (const Sample& s : finds.samples) {
    out.insert(out.end(), {s.window, s.position, s.label, s.pair_id, s.token, s.word});
  }
}

struct DecodedDocument {
  int64_t document = 0;
  int64_t n_tokens = 0;
  DocumentFinds finds;
};

std::vector<DecodedDocument> decode(const std::vector<int64_t>& flat) {
  std::vector<DecodedDocument> out;
  size_t i = 0;
  auto next = [&]() {
    if (i >= flat.size()) throw Error("plan", "internal: truncated plan buffer");
    return flat[i++];
  };
  while (i < flat.size()) {
    DecodedDocument d;
    d.document = next();
    d.n_tokens = next();
    const int64_t n_windows = next();
    const int64_t n_samples = next();
    for (int64_t w = 0; w < n_windows; ++w) {
      WindowSpec spec;
      spec.document = d.document;
      spec.start = next();
      spec.length = static_cast<int32_t>(next());
      spec.unit = next();
      const int64_t n = next();
      for (int64_t t = 0; t < n; ++t) spec.tokens.push_back(static_cast<int32_t>(next()));
      if (!spec.tokens.empty()) spec.document = -1;
      d.finds.windows.push_back(std::move(spec));
    }
    for (int64_t s = 0; s < n_samples; ++s) {
      Sample sample;
      sample.window = next();
      sample.position = static_cast<int32_t>(next());
      sample.label = static_cast<int32_t>(next());
      sample.pair_id = next();
      sample.token = static_cast<int32_t>(next());
      sample.word = static_cast<int32_t>(next());
      d.finds.samples.push_back(sample);
    }
    out.push_back(std::move(d));
  }
  return out;
}

void finish_plan(Plan& plan) {
  // Units: consecutive windows sharing a unit id stay together; -1 is a unit of its own.
  plan.unit_offsets.clear();
  for (size_t w = 0; w < plan.windows.size(); ++w) {
    const bool joins_previous =
        w > 0 && plan.windows[w].unit >= 0 && plan.windows[w].unit == plan.windows[w - 1].unit;
    if (!joins_previous) plan.unit_offsets.push_back(static_cast<int64_t>(w));
  }
  plan.unit_offsets.push_back(static_cast<int64_t>(plan.windows.size()));
  std::stable_sort(plan.samples.begin(), plan.samples.end(), [](const Sample& a, const Sample& b) {
    return a.window != b.window ? a.window < b.window : a.position < b.position;
  });
  plan.window_length = plan.windows.empty() ? 0 : plan.windows.front().length;
  for (const WindowSpec& w : plan.windows) {
    if (w.length != plan.window_length) {
      throw Error("plan", "internal: windows of different lengths in one plan");
    }
  }
}

}  // namespace

void Plan::make_batches(int batch_size) {
  batch_offsets = {0};
  int64_t in_batch = 0;
  for (size_t u = 0; u + 1 < unit_offsets.size(); ++u) {
    const int64_t unit = unit_offsets[u + 1] - unit_offsets[u];
    if (in_batch > 0 && in_batch + unit > batch_size) {
      batch_offsets.push_back(unit_offsets[u]);
      in_batch = 0;
    }
    in_batch += unit;
  }
  if (in_batch > 0) batch_offsets.push_back(static_cast<int64_t>(windows.size()));
}

std::string Plan::balance_warning(int batch_size, int ranks) const {
  const int64_t batches = n_batches();
  if (batches <= 0 || ranks <= 1) return {};
  const int64_t most = (batches + ranks - 1) / ranks;
  const double used = static_cast<double>(batches) / (static_cast<double>(most) * ranks);
  if (used >= 0.9) return {};
  const auto n_windows = static_cast<int64_t>(windows.size());
  const int64_t suggested = std::max<int64_t>(1, (n_windows + most * ranks - 1) / (most * ranks));
  char text[512];
  std::snprintf(text, sizeof text,
                "%lld batches of up to %d windows over %d ranks: the busiest rank runs %lld, so "
                "%.0f%% of the ranks' time is used; batch_size = %lld spreads the %lld windows "
                "evenly",
                static_cast<long long>(batches), batch_size, ranks, static_cast<long long>(most),
                100.0 * used, static_cast<long long>(suggested), static_cast<long long>(n_windows));
  return text;
}

Block Plan::rank_batches(int rank, int size) const {
  if (n_batches() <= 0) return {0, 0};
  return block_range(n_batches(), rank, size);
}

Block Plan::rank_block(int rank, int size) const {
  if (n_batches() <= 0) return {0, 0};
  const Block batches = rank_batches(rank, size);
  return {batch_offsets[static_cast<size_t>(batches.begin)],
          batch_offsets[static_cast<size_t>(batches.end)]};
}

Block Plan::samples_of(const Block& windows_block) const {
  auto lower = [&](int64_t window) {
    return std::lower_bound(samples.begin(), samples.end(), window,
                            [](const Sample& s, int64_t w) { return s.window < w; }) -
           samples.begin();
  };
  return {lower(windows_block.begin), lower(windows_block.end)};
}

int64_t Plan::label_count(int32_t label) const {
  return std::count_if(samples.begin(), samples.end(),
                       [&](const Sample& s) { return s.label == label; });
}

Plan build_plan(const io::Corpus& corpus, const model::Tokenizer& tokenizer,
                const WindowFinder& finder, const Comm& comm, int64_t max_windows,
                int64_t max_tokens) {
  const int64_t n_docs = static_cast<int64_t>(corpus.n_documents());
  Plan plan;
  int64_t pair_base = 0;
  int64_t unit_base = 0;
  // Rounds of `size` documents: rank r takes document round * size + r. After each round the
  // finds are all-gathered, so every rank extends the same global plan, and reading stops as
  // soon as the window or token budget is reached.
  const int64_t round_docs = comm.size();
  for (int64_t first = 0; first < n_docs; first += round_docs) {
    std::vector<int64_t> local;
    const int64_t doc = first + comm.rank();
    collective_check(comm, [&] {
      if (doc < n_docs) {
        const io::Document document = corpus.read(static_cast<size_t>(doc));
        const std::vector<int32_t> tokens = encode_document(document, tokenizer);
        encode(doc, static_cast<int64_t>(tokens.size()), finder(document, tokens), local);
      }
    });
    std::vector<DecodedDocument> round = decode(comm.allgatherv(local));
    std::sort(round.begin(), round.end(), [](const DecodedDocument& a, const DecodedDocument& b) {
      return a.document < b.document;
    });
    bool full = false;
    for (DecodedDocument& d : round) {
      plan.documents += 1;
      plan.corpus_tokens += d.n_tokens;
      const int64_t window_base = static_cast<int64_t>(plan.windows.size());
      std::map<int64_t, int64_t> pair_map, unit_map;
      int64_t kept = 0;
      for (WindowSpec& w : d.finds.windows) {
        if (max_windows > 0 && static_cast<int64_t>(plan.windows.size()) >= max_windows) {
          full = true;
          break;
        }
        if (w.unit >= 0) {
          auto [it, inserted] =
              unit_map.emplace(w.unit, unit_base + static_cast<int64_t>(unit_map.size()));
          w.unit = it->second;
        }
        plan.windows.push_back(std::move(w));
        ++kept;
      }
      unit_base += static_cast<int64_t>(unit_map.size());
      for (Sample s : d.finds.samples) {
        if (s.window >= kept) continue;
        s.window += window_base;
        if (s.pair_id >= 0) {
          auto [it, inserted] =
              pair_map.emplace(s.pair_id, pair_base + static_cast<int64_t>(pair_map.size()));
          s.pair_id = it->second;
        }
        plan.samples.push_back(s);
      }
      pair_base += static_cast<int64_t>(pair_map.size());
      if (full || (max_tokens > 0 && plan.corpus_tokens >= max_tokens)) {
        full = true;
        break;
      }
    }
    if (full) break;
  }
  finish_plan(plan);
  return plan;
}

std::vector<int32_t> encode_document(const io::Document& document,
                                     const model::Tokenizer& tokenizer) {
  try {
    return tokenizer.encode(document.text);
  } catch (const Error& e) {
    throw Error(document.source, e.problem(), e.hint());
  }
}

Plan plan_from_windows(std::vector<WindowSpec> windows, std::vector<Sample> samples) {
  Plan plan;
  plan.windows = std::move(windows);
  plan.samples = std::move(samples);
  for (const WindowSpec& w : plan.windows) plan.corpus_tokens += w.length;
  finish_plan(plan);
  return plan;
}

void WindowTokens::fetch(int64_t begin, int64_t end, std::vector<int32_t>& out) {
  const auto T = static_cast<size_t>(plan_.window_length);
  out.resize(static_cast<size_t>(end - begin) * T);
  for (int64_t w = begin; w < end; ++w) {
    const WindowSpec& spec = plan_.windows[static_cast<size_t>(w)];
    int32_t* dst = out.data() + static_cast<size_t>(w - begin) * T;
    if (spec.document < 0) {
      std::copy(spec.tokens.begin(), spec.tokens.end(), dst);
      continue;
    }
    if (spec.document != cached_document_) {
      if (corpus_ == nullptr) throw Error("plan", "internal: window refers to a corpus document");
      const io::Document document = corpus_->read(static_cast<size_t>(spec.document));
      cached_tokens_ = tokenizer_.encode(document.text);
      cached_document_ = spec.document;
    }
    if (spec.start < 0 || spec.start + spec.length > static_cast<int64_t>(cached_tokens_.size())) {
      throw Error("plan", "internal: window outside its document");
    }
    std::copy_n(cached_tokens_.begin() + spec.start, spec.length, dst);
  }
}

}  // namespace neurolens::runner
