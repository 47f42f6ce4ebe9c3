#include "runner/engine/plan.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "io/error.hpp"
#include "runner/engine/corpus_stream.hpp"
#include "runner/parallel/mpi.hpp"

namespace neurolens::runner {
namespace {

// Flat encoding of a local plan's windows and samples for the all-gather of build_plan:
// [n_windows, n_samples, first_window,
//  n_windows x (document, start, length, unit, n_tokens, tokens..., n_extra, extra...),
//  n_samples x (window, position, label, pair_id, token, word)]
void encode(const Plan& round, std::vector<int64_t>& out) {
  out.push_back(static_cast<int64_t>(round.windows.size()));
  out.push_back(static_cast<int64_t>(round.samples.size()));
  out.push_back(round.first_window);
  for (const WindowSpec& w : round.windows) {
    out.insert(out.end(), {w.document, w.start, w.length, w.unit});
    out.push_back(static_cast<int64_t>(w.tokens.size()));
    out.insert(out.end(), w.tokens.begin(), w.tokens.end());
    out.push_back(static_cast<int64_t>(w.extra.size()));
    out.insert(out.end(), w.extra.begin(), w.extra.end());
  }
  for (const Sample& s : round.samples) {
    out.insert(out.end(), {s.window, s.position, s.label, s.pair_id, s.token, s.word});
  }
}

void decode_append(const std::vector<int64_t>& flat, Plan& plan) {
  size_t i = 0;
  auto next = [&]() {
    if (i >= flat.size()) throw Error("plan", "internal: truncated plan buffer");
    return flat[i++];
  };
  while (i < flat.size()) {
    const int64_t n_windows = next();
    const int64_t n_samples = next();
    next();  // first_window (informational)
    const auto base = static_cast<int64_t>(plan.windows.size());
    for (int64_t w = 0; w < n_windows; ++w) {
      WindowSpec spec;
      spec.document = next();
      spec.start = next();
      spec.length = static_cast<int32_t>(next());
      spec.unit = next();
      const int64_t n = next();
      for (int64_t t = 0; t < n; ++t) spec.tokens.push_back(static_cast<int32_t>(next()));
      const int64_t n_extra = next();
      for (int64_t t = 0; t < n_extra; ++t) spec.extra.push_back(next());
      plan.windows.push_back(std::move(spec));
    }
    for (int64_t s = 0; s < n_samples; ++s) {
      Sample sample;
      sample.window = base + next();
      sample.position = static_cast<int32_t>(next());
      sample.label = static_cast<int32_t>(next());
      sample.pair_id = next();
      sample.token = static_cast<int32_t>(next());
      sample.word = static_cast<int32_t>(next());
      plan.samples.push_back(sample);
    }
  }
}

}  // namespace

void Plan::finish() {
  // Units: consecutive windows sharing a unit id stay together; -1 is a unit of its own.
  unit_offsets.clear();
  for (size_t w = 0; w < windows.size(); ++w) {
    const bool joins_previous =
        w > 0 && windows[w].unit >= 0 && windows[w].unit == windows[w - 1].unit;
    if (!joins_previous) unit_offsets.push_back(static_cast<int64_t>(w));
  }
  unit_offsets.push_back(static_cast<int64_t>(windows.size()));
  std::stable_sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) {
    return a.window != b.window ? a.window < b.window : a.position < b.position;
  });
  window_length = windows.empty() ? 0 : windows.front().length;
  for (const WindowSpec& w : windows) {
    if (w.length != window_length || static_cast<int32_t>(w.tokens.size()) != w.length) {
      throw Error("plan", "internal: windows of different lengths in one plan");
    }
  }
}

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
  if (local) return {0, n_batches()};
  return block_range(n_batches(), rank, size);
}

Block Plan::rank_block(int rank, int size) const {
  if (n_batches() <= 0) return {0, 0};
  if (local) return {0, static_cast<int64_t>(windows.size())};
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

void keep_windows(Plan& round, const std::function<bool(int64_t)>& keep) {
  std::vector<int64_t> index(round.windows.size(), -1);
  std::vector<WindowSpec> kept;
  for (size_t w = 0; w < round.windows.size(); ++w) {
    if (!keep(round.first_window + static_cast<int64_t>(w))) continue;
    index[w] = static_cast<int64_t>(kept.size());
    kept.push_back(std::move(round.windows[w]));
  }
  std::vector<Sample> samples;
  for (Sample s : round.samples) {
    const int64_t w = index[static_cast<size_t>(s.window)];
    if (w < 0) continue;
    s.window = w;
    samples.push_back(s);
  }
  round.windows = std::move(kept);
  round.samples = std::move(samples);
  round.finish();
}

Plan build_plan(const io::Corpus& corpus, const model::Tokenizer& tokenizer,
                const WindowFinder& finder, const Comm& comm, int64_t max_windows,
                int64_t max_tokens, const std::function<void(Plan&)>& on_round) {
  CorpusStream stream(corpus, tokenizer, finder, comm, {max_windows, max_tokens});
  Plan plan;
  Plan round;
  while (stream.next(round)) {
    if (on_round) on_round(round);
    std::vector<int64_t> local;
    encode(round, local);
    decode_append(comm.allgatherv(local), plan);  // ranks in order: corpus order
  }
  plan.documents = stream.totals().documents;
  plan.corpus_tokens = stream.totals().corpus_tokens;
  plan.finish();
  return plan;
}

std::vector<int32_t> document_tokens(const io::Document& document,
                                     const model::Tokenizer& tokenizer) {
  const std::optional<int32_t> bos = document_bos(tokenizer);
  if (!document.tokens.empty() || document.text.empty()) {
    if (!bos || document.tokens.empty() || document.tokens.front() == *bos) return document.tokens;
    std::vector<int32_t> ids;
    ids.reserve(document.tokens.size() + 1);
    ids.push_back(*bos);
    ids.insert(ids.end(), document.tokens.begin(), document.tokens.end());
    return ids;
  }
  std::vector<int32_t> ids = encode_document(document, tokenizer);
  if (bos) ids.insert(ids.begin(), *bos);
  return ids;
}

std::optional<int32_t> document_bos(const model::Tokenizer& tokenizer) {
  return tokenizer.adds_bos() ? tokenizer.bos_id() : std::nullopt;
}

int64_t document_text_offset(const model::Tokenizer& tokenizer) {
  return document_bos(tokenizer) ? 1 : 0;
}

std::vector<uint8_t> special_token_flags(const model::Tokenizer& tokenizer) {
  std::vector<uint8_t> flags(static_cast<size_t>(std::max(0, tokenizer.vocab_size())), 0);
  for (const int32_t id : tokenizer.special_ids()) {
    if (id >= 0 && static_cast<size_t>(id) < flags.size()) flags[static_cast<size_t>(id)] = 1;
  }
  return flags;
}

std::vector<int32_t> encode_document(const io::Document& document,
                                     const model::Tokenizer& tokenizer) {
  try {
    return tokenizer.encode(document.text);
  } catch (const Error& e) {
    throw Error(document.source, e.problem(), e.hint());
  }
}

void PlanCounts::add(const Plan& plan) {
  windows += static_cast<int64_t>(plan.windows.size());
  samples += static_cast<int64_t>(plan.samples.size());
  if (plan.window_length > 0) window_length = plan.window_length;
  for (const Sample& s : plan.samples) {
    if (s.label >= 0) {
      if (static_cast<size_t>(s.label) >= labels.size())
        labels.resize(static_cast<size_t>(s.label) + 1);
      labels[static_cast<size_t>(s.label)] += 1;
    }
    if (s.word >= 0) {
      if (static_cast<size_t>(s.word) >= words.size())
        words.resize(static_cast<size_t>(s.word) + 1);
      words[static_cast<size_t>(s.word)] += 1;
    }
  }
}

PlanCounts count_plan(const Plan& plan, int ranks) {
  PlanCounts c;
  c.add(plan);
  c.documents = plan.documents;
  c.corpus_tokens = plan.corpus_tokens;
  c.batches = plan.n_batches();
  c.most_rank_windows = plan.rank_block(0, ranks).size();
  c.least_rank_windows = plan.rank_block(ranks - 1, ranks).size();
  return c;
}

Plan plan_from_windows(std::vector<WindowSpec> windows, std::vector<Sample> samples) {
  Plan plan;
  plan.windows = std::move(windows);
  plan.samples = std::move(samples);
  for (const WindowSpec& w : plan.windows) plan.corpus_tokens += w.length;
  plan.finish();
  return plan;
}

void fetch_window_tokens(const Plan& plan, int64_t begin, int64_t end, std::vector<int32_t>& out) {
  const auto T = static_cast<size_t>(plan.window_length);
  out.resize(static_cast<size_t>(end - begin) * T);
  for (int64_t w = begin; w < end; ++w) {
    const WindowSpec& spec = plan.windows[static_cast<size_t>(w)];
    std::copy(spec.tokens.begin(), spec.tokens.end(),
              out.begin() + static_cast<long>(static_cast<size_t>(w - begin) * T));
  }
}

}  // namespace neurolens::runner
