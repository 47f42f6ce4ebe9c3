#include "runner/studies/examples_lists.hpp"

#include <algorithm>

namespace neurolens::runner {

MergedLists merge_by_slice(const Comm& comm, std::span<Lists> lists, const WindowStore& store,
                           const std::vector<int64_t>& offsets, size_t T) {
  const auto R = static_cast<size_t>(comm.size());
  const auto me = static_cast<size_t>(comm.rank());
  const auto n = static_cast<size_t>(offsets[me + 1] - offsets[me]);
  std::vector<int64_t> wcounts(R), wdispls(R), wrecv(R);
  std::vector<int64_t> table;         // per destination: (window, document, start)
  std::vector<int32_t> table_tokens;  // [.., T]
  std::vector<int64_t> tcounts(R), tdispls(R), tkcounts(R), tkdispls(R);
  for (size_t q = 0; q < R; ++q) {
    std::vector<int64_t> ids;
    for (const Lists& l : lists) {
      for (size_t k = static_cast<size_t>(offsets[q]) * l.cap;
           k < static_cast<size_t>(offsets[q + 1]) * l.cap; ++k) {
        if (l.entries[k].window >= 0) ids.push_back(l.entries[k].window);
      }
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    tdispls[q] = static_cast<int64_t>(table.size());
    tkdispls[q] = static_cast<int64_t>(table_tokens.size());
    for (int64_t id : ids) {
      const WindowStore::Window* w = store.find(id);
      table.insert(table.end(), {id, w ? w->document : -1, w ? w->start : 0});
      std::vector<int32_t> t(T, -1);
      if (w) std::copy_n(w->tokens.begin(), std::min(T, w->tokens.size()), t.begin());
      table_tokens.insert(table_tokens.end(), t.begin(), t.end());
    }
    tcounts[q] = static_cast<int64_t>(table.size()) - tdispls[q];
    tkcounts[q] = static_cast<int64_t>(table_tokens.size()) - tkdispls[q];
  }
  std::vector<int64_t> one(R), got(R);
  for (size_t q = 0; q < R; ++q) one[q] = tcounts[q];
  {
    std::vector<int64_t> ones(R, 1), displs(R);
    for (size_t q = 0; q < R; ++q) displs[q] = static_cast<int64_t>(q);
    got = comm.alltoallv<int64_t>(one, ones, displs, ones);
  }
  std::vector<int64_t> got_tokens(R);
  for (size_t q = 0; q < R; ++q) got_tokens[q] = got[q] / 3 * static_cast<int64_t>(T);
  std::vector<int64_t> rtable = comm.alltoallv<int64_t>(table, tcounts, tdispls, got);
  std::vector<int32_t> rtokens =
      comm.alltoallv<int32_t>(table_tokens, tkcounts, tkdispls, got_tokens);
  std::vector<int64_t>().swap(table);
  std::vector<int32_t>().swap(table_tokens);
  MergedLists merged;
  for (size_t i = 0; i + 2 < rtable.size(); i += 3) merged.row_of[rtable[i]] = i / 3;
  merged.lists.resize(lists.size());
  for (size_t li = 0; li < lists.size(); ++li) {
    Lists& l = lists[li];
    const size_t C = l.cap;
    for (size_t q = 0; q < R; ++q) {
      wdispls[q] = offsets[q] * static_cast<int64_t>(C);
      wcounts[q] = (offsets[q + 1] - offsets[q]) * static_cast<int64_t>(C);
      wrecv[q] = static_cast<int64_t>(n * C);
    }
    const std::vector<Entry> re = comm.alltoallv<Entry>(l.entries, wcounts, wdispls, wrecv);
    for (size_t q = 0; q < R; ++q) {
      wdispls[q] *= static_cast<int64_t>(T);
      wcounts[q] *= static_cast<int64_t>(T);
      wrecv[q] *= static_cast<int64_t>(T);
    }
    const std::vector<uint16_t> ra = comm.alltoallv<uint16_t>(l.acts, wcounts, wdispls, wrecv);
    std::vector<Entry>().swap(l.entries);
    std::vector<uint16_t>().swap(l.acts);
    Lists m;
    m.reset(l.order, n, C, T);
    for (size_t q = 0; q < R; ++q) {
      for (size_t j = 0; j < n; ++j) {
        for (size_t c = 0; c < C; ++c) {
          const size_t at = q * n * C + j * C + c;
          const Entry& e = re[at];
          if (e.window < 0 || !m.admits(j, e)) continue;
          m.insert(j, e, [&](uint16_t* dst) { std::copy_n(ra.data() + at * T, T, dst); });
        }
      }
    }
    merged.lists[li] = std::move(m);
  }
  merged.table = std::move(rtable);
  merged.tokens = std::move(rtokens);
  return merged;
}

}  // namespace neurolens::runner
