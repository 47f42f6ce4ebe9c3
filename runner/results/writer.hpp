// ResultsWriter — the results file of `neurolens run`, written collectively by all ranks.
// Owns: the layout documented in docs/results.md: root attributes (job, model, ranks, tokens,
// timing, version), one group per analysed hook site with per-neuron datasets [n_layers, width]
// and `layer` / `neuron` dimension scales, `/samples/...` when save_samples is on, and
// study-specific datasets. Every rank calls every method (collective MPI-IO); per-neuron data
// is written by each rank for its own neuron slice, small shared data by rank 0.
// Example:
//   ResultsWriter out(atomic.temp_path(), comm);
//   out.create_site(site);
//   out.write_neuron_slice(site, "t", slice.begin, t_values);   // this rank's neurons
//   out.close();  atomic.commit();
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/results/sites.hpp"

namespace neurolens::runner {

class ResultsWriter {
 public:
  ResultsWriter(const std::filesystem::path& path, const Comm& comm);

  io::H5File& file() { return file_; }
  const Comm& comm() const { return comm_; }

  void set_attribute(const std::string& object, const std::string& name, const std::string& v);
  void set_attribute(const std::string& object, const std::string& name, double v);
  void set_attribute(const std::string& object, const std::string& name, int64_t v);

  // Group /<site> with datasets `layer` [n_layers] and `neuron` [width] as dimension scales.
  void create_site(const SiteSpace& site);
  // /<site>/<name> [n_layers, width]; this rank writes flat neurons [begin, begin + values.size()).
  void write_neuron_slice(const SiteSpace& site, const std::string& name, int64_t begin,
                          std::span<const double> values);
  void write_neuron_slice(const SiteSpace& site, const std::string& name, int64_t begin,
                          std::span<const uint8_t> values);
  // A dataset every rank holds identically; rank 0 writes it. dims empty = scalar.
  void write_shared(const std::string& path, io::H5Type type, const std::vector<hsize_t>& dims,
                    const void* data);
  void write_shared_strings(const std::string& path, const std::vector<std::string>& values);
  // A dataset [n_rows, ...] of which this rank writes rows [row_begin, row_begin + rows).
  void write_rows(const std::string& path, io::H5Type type, const std::vector<hsize_t>& dims,
                  int64_t row_begin, int64_t rows, const void* data,
                  const std::vector<std::string>& dim_labels = {});

  // A 1-D dimension scale dataset named `name` (the dimension's name in netCDF / xarray) holding
  // 0..n-1 or the given values; rank 0 writes.
  void write_scale(const std::string& path, const std::string& name, std::vector<int64_t> values);
  // Attaches existing scale datasets to the dimensions of `dataset`, in order, and labels the
  // dimensions with `labels` (h5py's dims[i].label) when given.
  void attach_scales(const std::string& dataset, const std::vector<std::string>& scales,
                     const std::vector<std::string>& labels = {});

  // Collective close; throws if any rank's HDF5 reported a failure.
  void close();

 private:
  io::H5Dataset create_neuron_dataset(const SiteSpace& site, const std::string& name,
                                      io::H5Type type);
  io::H5File file_;
  const Comm& comm_;
};

}  // namespace neurolens::runner
