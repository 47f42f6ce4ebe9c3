#include "runner/engine/corpus_stream.hpp"

#include <algorithm>
#include <map>

#include "io/error.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/parallel/sharding.hpp"

namespace neurolens::runner {

std::vector<double> StreamTotals::serialize() const {
  return {static_cast<double>(rounds),        static_cast<double>(documents),
          static_cast<double>(corpus_tokens), static_cast<double>(windows),
          static_cast<double>(samples),       static_cast<double>(units),
          static_cast<double>(pairs),         done ? 1.0 : 0.0};
}

StreamTotals StreamTotals::deserialize(const std::vector<double>& v, size_t& offset) {
  if (offset + 8 > v.size()) {
    throw Error("checkpoint", "the corpus stream state is truncated", "start without --resume");
  }
  StreamTotals t;
  const double* p = v.data() + offset;
  t.rounds = static_cast<int64_t>(p[0]);
  t.documents = static_cast<int64_t>(p[1]);
  t.corpus_tokens = static_cast<int64_t>(p[2]);
  t.windows = static_cast<int64_t>(p[3]);
  t.samples = static_cast<int64_t>(p[4]);
  t.units = static_cast<int64_t>(p[5]);
  t.pairs = static_cast<int64_t>(p[6]);
  t.done = p[7] != 0;
  offset += 8;
  return t;
}

CorpusStream::CorpusStream(const io::Corpus& corpus, const model::Tokenizer& tokenizer,
                           WindowFinder finder, const Comm& comm, StreamLimits limits)
    : corpus_(corpus),
      tokenizer_(tokenizer),
      finder_(std::move(finder)),
      comm_(comm),
      limits_(limits) {}

int64_t CorpusStream::n_rounds() const {
  const auto segments = static_cast<int64_t>(corpus_.n_segments());
  return (segments + comm_.size() - 1) / comm_.size();
}

namespace {

struct FoundDocument {
  int64_t tokens = 0;
  DocumentFinds finds;
};

}  // namespace

bool CorpusStream::next(Plan& round) {
  round = Plan{};
  round.local = true;
  if (totals_.done || totals_.rounds >= n_rounds()) {
    totals_.done = true;
    return false;
  }
  const int R = comm_.size();
  const int r = comm_.rank();
  const int64_t segment = totals_.rounds * R + r;

  // 1. Read and find (this rank's segment only).
  std::vector<FoundDocument> found;
  collective_check(comm_, [&] {
    if (segment >= static_cast<int64_t>(corpus_.n_segments())) return;
    corpus_.read_segment(static_cast<size_t>(segment), [&](io::Document& document) {
      const std::vector<int32_t> tokens = document_tokens(document, tokenizer_);
      FoundDocument d;
      d.tokens = static_cast<int64_t>(tokens.size());
      d.finds = finder_(document, tokens);
      for (WindowSpec& w : d.finds.windows) {
        if (w.tokens.empty()) {
          if (w.start < 0 || w.start + w.length > d.tokens) {
            throw Error("plan", "internal: a window outside its document");
          }
          w.tokens.assign(tokens.begin() + w.start, tokens.begin() + w.start + w.length);
        }
      }
      found.push_back(std::move(d));
      return true;
    });
  });

  // 2. Limits in corpus order: the counts of the ranks before this one in this round.
  int64_t my_tokens = 0, my_windows = 0;
  for (const FoundDocument& d : found) {
    my_tokens += d.tokens;
    my_windows += static_cast<int64_t>(d.finds.windows.size());
  }
  const std::vector<int64_t> raw = comm_.allgatherv(std::vector<int64_t>{my_tokens, my_windows});
  int64_t tokens_before = totals_.corpus_tokens, windows_before = totals_.windows;
  for (int q = 0; q < r; ++q) {
    tokens_before += raw[static_cast<size_t>(2 * q)];
    windows_before += raw[static_cast<size_t>(2 * q + 1)];
  }
  int64_t kept_docs = 0, kept_tokens = 0, kept_windows = 0, kept_samples = 0;
  int64_t kept_units = 0, kept_pairs = 0;
  bool limit_hit = false;
  std::vector<std::map<int64_t, int64_t>> unit_maps, pair_maps;
  for (FoundDocument& d : found) {
    // As one process reading in corpus order: stop after the document that reaches max_tokens,
    // and after the document whose windows overflow max_windows (an earlier rank's overflow
    // shows as more than max_windows before this rank).
    if (limits_.max_tokens > 0 && tokens_before + kept_tokens >= limits_.max_tokens) {
      limit_hit = true;
      break;
    }
    if (limits_.max_windows > 0 && windows_before > limits_.max_windows) {
      limit_hit = true;
      break;
    }
    kept_docs += 1;
    kept_tokens += d.tokens;
    if (limits_.max_windows > 0) {
      const int64_t room =
          std::max<int64_t>(0, limits_.max_windows - (windows_before + kept_windows));
      if (static_cast<int64_t>(d.finds.windows.size()) > room) {
        d.finds.windows.resize(static_cast<size_t>(room));
        limit_hit = true;
      }
    }
    kept_windows += static_cast<int64_t>(d.finds.windows.size());
    std::map<int64_t, int64_t> units, pairs;
    for (const WindowSpec& w : d.finds.windows) {
      if (w.unit >= 0) units.emplace(w.unit, static_cast<int64_t>(units.size()));
    }
    for (const Sample& s : d.finds.samples) {
      if (s.window >= static_cast<int64_t>(d.finds.windows.size())) continue;
      kept_samples += 1;
      if (s.pair_id >= 0) pairs.emplace(s.pair_id, static_cast<int64_t>(pairs.size()));
    }
    kept_units += static_cast<int64_t>(units.size());
    kept_pairs += static_cast<int64_t>(pairs.size());
    unit_maps.push_back(std::move(units));
    pair_maps.push_back(std::move(pairs));
    if (limit_hit) break;
  }
  if (limits_.max_tokens > 0 && tokens_before + kept_tokens >= limits_.max_tokens) limit_hit = true;

  // 3. Global offsets from the kept counts of every rank.
  const std::vector<int64_t> kept =
      comm_.allgatherv(std::vector<int64_t>{kept_docs, kept_tokens, kept_windows, kept_samples,
                                            kept_units, kept_pairs, limit_hit ? 1 : 0});
  const int64_t round_first_window = totals_.windows;
  StreamTotals before = totals_;
  StreamTotals after = totals_;
  bool any_limit = false;
  for (int q = 0; q < R; ++q) {
    const int64_t* k = kept.data() + static_cast<size_t>(7 * q);
    if (q < r) {
      before.documents += k[0];
      before.corpus_tokens += k[1];
      before.windows += k[2];
      before.samples += k[3];
      before.units += k[4];
      before.pairs += k[5];
    }
    after.documents += k[0];
    after.corpus_tokens += k[1];
    after.windows += k[2];
    after.samples += k[3];
    after.units += k[4];
    after.pairs += k[5];
    any_limit = any_limit || k[6] != 0;
  }
  after.rounds += 1;
  after.done = any_limit || after.rounds >= n_rounds();
  totals_ = after;

  // 4. This rank's local plan with global ids.
  round.first_window = before.windows;
  round.first_sample = before.samples;
  int64_t unit_base = before.units, pair_base = before.pairs;
  for (size_t i = 0; i < static_cast<size_t>(kept_docs); ++i) {
    FoundDocument& d = found[i];
    const auto window_base = static_cast<int64_t>(round.windows.size());
    const auto n_windows = static_cast<int64_t>(d.finds.windows.size());
    for (WindowSpec& w : d.finds.windows) {
      w.document = before.documents + static_cast<int64_t>(i);
      if (w.unit >= 0) w.unit = unit_base + unit_maps[i].at(w.unit);
      round.windows.push_back(std::move(w));
    }
    for (Sample s : d.finds.samples) {
      if (s.window >= n_windows) continue;
      s.window += window_base;
      if (s.pair_id >= 0) s.pair_id = pair_base + pair_maps[i].at(s.pair_id);
      round.samples.push_back(s);
    }
    unit_base += static_cast<int64_t>(unit_maps[i].size());
    pair_base += static_cast<int64_t>(pair_maps[i].size());
  }
  round.documents = kept_docs;
  round.corpus_tokens = kept_tokens;
  round.finish();
  if (R > 1 && balance_) balance(round, round_first_window, after.windows - round_first_window);
  return true;
}

// Flat encoding of the windows that change rank, and their samples, for the balancing
// all-to-all: per window: [global id, document, start, length, unit, n_tokens, tokens...,
// n_extra, extra..., n_samples, n_samples x (global sample id, position, label, pair_id, token,
// word)]. Windows whose owner is this rank are moved, not copied: a round's extra memory is only
// what actually travels.
void CorpusStream::balance(Plan& round, int64_t first, int64_t count) const {
  const int R = comm_.size();
  const int me = comm_.rank();
  // Owner of every window; owners never decrease with the window id (blocks of the round's ids),
  // and a unit's windows follow its first window.
  std::vector<int> owner(round.windows.size());
  int target = 0;
  for (size_t w = 0; w < round.windows.size(); ++w) {
    const WindowSpec& win = round.windows[w];
    const bool same_unit = w > 0 && win.unit >= 0 && win.unit == round.windows[w - 1].unit;
    if (!same_unit)
      target = block_owner(round.first_window + static_cast<int64_t>(w) - first, count, R);
    owner[w] = target;
  }
  // Sample ranges per window (samples are sorted by window).
  std::vector<size_t> sample_begin(round.windows.size() + 1, round.samples.size());
  {
    size_t s = 0;
    for (size_t w = 0; w < round.windows.size(); ++w) {
      while (s < round.samples.size() && round.samples[s].window < static_cast<int64_t>(w)) ++s;
      sample_begin[w] = s;
    }
  }
  std::vector<int64_t> send, counts(static_cast<size_t>(R), 0), displs(static_cast<size_t>(R), 0);
  for (size_t w = 0; w < round.windows.size(); ++w) {
    const int q = owner[w];
    if (q == me) continue;
    const size_t before = send.size();
    const WindowSpec& win = round.windows[w];
    send.insert(send.end(), {round.first_window + static_cast<int64_t>(w), win.document, win.start,
                             win.length, win.unit});
    send.push_back(static_cast<int64_t>(win.tokens.size()));
    send.insert(send.end(), win.tokens.begin(), win.tokens.end());
    send.push_back(static_cast<int64_t>(win.extra.size()));
    send.insert(send.end(), win.extra.begin(), win.extra.end());
    const size_t s0 = sample_begin[w], s1 = sample_begin[w + 1];
    send.push_back(static_cast<int64_t>(s1 - s0));
    for (size_t k = s0; k < s1; ++k) {
      const Sample& x = round.samples[k];
      send.insert(send.end(), {round.first_sample + static_cast<int64_t>(k), x.position, x.label,
                               x.pair_id, x.token, x.word});
    }
    counts[static_cast<size_t>(q)] += static_cast<int64_t>(send.size() - before);
  }
  for (int q = 1; q < R; ++q) {
    displs[static_cast<size_t>(q)] =
        displs[static_cast<size_t>(q - 1)] + counts[static_cast<size_t>(q - 1)];
  }
  // Every rank's send counts, so each knows what it receives.
  const std::vector<int64_t> all_counts = comm_.allgatherv(counts);
  std::vector<int64_t> recv_counts(static_cast<size_t>(R));
  for (int q = 0; q < R; ++q) {
    recv_counts[static_cast<size_t>(q)] =
        all_counts[static_cast<size_t>(q) * static_cast<size_t>(R) + static_cast<size_t>(me)];
  }
  const std::vector<int64_t> flat = comm_.alltoallv<int64_t>(send, counts, displs, recv_counts);
  std::vector<int64_t>().swap(send);

  // Global order = source rank order, this rank's own windows in the middle.
  Plan mine;
  mine.local = true;
  mine.documents = round.documents;
  mine.corpus_tokens = round.corpus_tokens;
  bool first_window_set = false, first_sample_set = false;
  const auto note_window = [&](int64_t id) {
    if (!first_window_set) {
      mine.first_window = id;
      first_window_set = true;
    }
  };
  const auto note_sample = [&](int64_t id) {
    if (!first_sample_set) {
      mine.first_sample = id;
      first_sample_set = true;
    }
  };
  const auto unpack = [&](size_t i, size_t end) {
    while (i < end) {
      WindowSpec w;
      note_window(flat[i++]);
      w.document = flat[i++];
      w.start = flat[i++];
      w.length = static_cast<int32_t>(flat[i++]);
      w.unit = flat[i++];
      const auto n_tokens = static_cast<size_t>(flat[i++]);
      w.tokens.assign(flat.begin() + static_cast<long>(i),
                      flat.begin() + static_cast<long>(i + n_tokens));
      i += n_tokens;
      const auto n_extra = static_cast<size_t>(flat[i++]);
      w.extra.assign(flat.begin() + static_cast<long>(i),
                     flat.begin() + static_cast<long>(i + n_extra));
      i += n_extra;
      const auto local = static_cast<int64_t>(mine.windows.size());
      const int64_t n_samples = flat[i++];
      for (int64_t k = 0; k < n_samples; ++k) {
        Sample x;
        note_sample(flat[i++]);
        x.window = local;
        x.position = static_cast<int32_t>(flat[i++]);
        x.label = static_cast<int32_t>(flat[i++]);
        x.pair_id = flat[i++];
        x.token = static_cast<int32_t>(flat[i++]);
        x.word = static_cast<int32_t>(flat[i++]);
        mine.samples.push_back(x);
      }
      mine.windows.push_back(std::move(w));
    }
  };
  size_t offset = 0;
  for (int q = 0; q < R; ++q) {
    const size_t n = static_cast<size_t>(recv_counts[static_cast<size_t>(q)]);
    if (q == me) {
      for (size_t w = 0; w < round.windows.size(); ++w) {
        if (owner[w] != me) continue;
        note_window(round.first_window + static_cast<int64_t>(w));
        const auto local = static_cast<int64_t>(mine.windows.size());
        for (size_t k = sample_begin[w]; k < sample_begin[w + 1]; ++k) {
          note_sample(round.first_sample + static_cast<int64_t>(k));
          Sample x = round.samples[k];
          x.window = local;
          mine.samples.push_back(x);
        }
        mine.windows.push_back(std::move(round.windows[w]));
      }
      round = Plan{};
    }
    unpack(offset, offset + n);
    offset += n;
  }
  mine.finish();
  round = std::move(mine);
}

}  // namespace neurolens::runner
