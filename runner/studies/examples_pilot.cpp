#include "runner/studies/examples_pilot.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runner/parallel/sharding.hpp"

namespace neurolens::runner {

double linear_quantile(const std::vector<float>& sorted, double level) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = level * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

std::vector<PilotRanges> pilot_ranges(const Comm& comm, PilotAccumulator& pilot, size_t bins) {
  const std::vector<int64_t> windows_of =
      comm.allgatherv(std::vector<int64_t>{pilot.windows});  // pilot windows per rank
  const double count = static_cast<double>(comm.allreduce_sum(pilot.count));
  std::vector<PilotRanges> out(pilot.min.size());
  for (size_t s = 0; s < pilot.min.size(); ++s) {
    PilotRanges& st = out[s];
    const size_t K = pilot.min[s].size();
    comm.allreduce_min(pilot.min[s]);
    comm.allreduce_max(pilot.max[s]);
    comm.allreduce_sum(pilot.sum[s]);
    st.shift.resize(K);
    for (size_t k = 0; k < K; ++k) st.shift[k] = count > 0 ? pilot.sum[s][k] / count : 0.0;
    // Quantiles of the window maxima, by neuron slice.
    const std::vector<int64_t> offsets = block_offsets(static_cast<int64_t>(K), comm.size());
    const auto R = static_cast<size_t>(comm.size());
    const size_t mine = static_cast<size_t>(pilot.windows);
    std::vector<float> send;
    send.reserve(mine * K);
    std::vector<int64_t> send_counts(R), send_displs(R), recv_counts(R);
    const auto me = static_cast<size_t>(comm.rank());
    const auto slice = static_cast<size_t>(offsets[me + 1] - offsets[me]);
    for (size_t q = 0; q < R; ++q) {
      const auto q0 = static_cast<size_t>(offsets[q]), q1 = static_cast<size_t>(offsets[q + 1]);
      send_displs[q] = static_cast<int64_t>(send.size());
      for (size_t w = 0; w < mine; ++w) {
        const float* row = pilot.maxima[s].data() + w * K;
        send.insert(send.end(), row + q0, row + q1);
      }
      send_counts[q] = static_cast<int64_t>(mine * (q1 - q0));
      recv_counts[q] = windows_of[q] * static_cast<int64_t>(slice);
    }
    std::vector<float>().swap(pilot.maxima[s]);
    const std::vector<float> recv =
        comm.alltoallv<float>(send, send_counts, send_displs, recv_counts);
    std::vector<double> mine_q(slice * 5);
    std::vector<float> values;
    for (size_t j = 0; j < slice; ++j) {
      values.clear();
      size_t at = 0;
      for (size_t q = 0; q < R; ++q) {
        const auto n = static_cast<size_t>(windows_of[q]);
        for (size_t w = 0; w < n; ++w) values.push_back(recv[at + w * slice + j]);
        at += n * slice;
      }
      std::sort(values.begin(), values.end());
      for (size_t l = 0; l < 5; ++l) mine_q[j * 5 + l] = linear_quantile(values, kLevels[l]);
    }
    const std::vector<double> all_q = comm.allgatherv(mine_q);
    st.boundaries.assign(all_q.begin(), all_q.end());
    // Histogram ranges.
    st.edges.resize(K * (bins + 1));
    st.lo.resize(K);
    st.hi.resize(K);
    st.inv.resize(K);
    for (size_t k = 0; k < K; ++k) {
      double lo = pilot.min[s][k], hi = pilot.max[s][k];
      if (!(hi > lo)) {
        const double pad = std::max(1e-6, std::abs(lo) * 0.1);
        lo -= pad;
        hi += pad;
      } else {
        const double pad = 0.1 * (hi - lo);
        lo -= pad;
        hi += pad;
      }
      float* e = st.edges.data() + k * (bins + 1);
      for (size_t b = 0; b <= bins; ++b) {
        e[b] =
            static_cast<float>(lo + (hi - lo) * static_cast<double>(b) / static_cast<double>(bins));
      }
      e[bins] = static_cast<float>(hi);
      st.lo[k] = e[0];
      st.hi[k] = e[bins];
      st.inv[k] = static_cast<float>(static_cast<double>(bins) / (hi - lo));
    }
  }
  return out;
}

}  // namespace neurolens::runner
