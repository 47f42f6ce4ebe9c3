#include "runner/results/writer.hpp"

#include <algorithm>

#include <numeric>

#include "io/error.hpp"

namespace neurolens::runner {

ResultsWriter::ResultsWriter(const std::filesystem::path& path, const Comm& comm)
    : file_(io::H5File::create(path, comm.raw())), comm_(comm) {}

void ResultsWriter::set_attribute(const std::string& object, const std::string& name,
                                  const std::string& v) {
  file_.set_attribute(object, name, v);
}
void ResultsWriter::set_attribute(const std::string& object, const std::string& name, double v) {
  file_.set_attribute(object, name, v);
}
void ResultsWriter::set_attribute(const std::string& object, const std::string& name, int64_t v) {
  file_.set_attribute(object, name, v);
}

void ResultsWriter::create_site(const SiteSpace& site) {
  const std::string group = "/" + site.site;
  file_.create_group(group);
  std::vector<int64_t> layers(site.layers.begin(), site.layers.end());
  std::vector<int64_t> neurons(static_cast<size_t>(site.width));
  std::iota(neurons.begin(), neurons.end(), 0);
  {
    io::H5Dataset d = file_.create_dataset(group + "/layer", io::H5Type::I64,
                                           {static_cast<hsize_t>(layers.size())});
    const hsize_t zero[] = {0};
    const hsize_t count[] = {comm_.root() ? static_cast<hsize_t>(layers.size()) : 0};
    d.write_block(zero, count, layers.data());
    d.make_dimension_scale("layer");
  }
  {
    io::H5Dataset d = file_.create_dataset(group + "/neuron", io::H5Type::I64,
                                           {static_cast<hsize_t>(site.width)});
    const hsize_t zero[] = {0};
    const hsize_t count[] = {comm_.root() ? static_cast<hsize_t>(site.width) : 0};
    d.write_block(zero, count, neurons.data());
    d.make_dimension_scale("neuron");
  }
  file_.set_attribute(group, "width", static_cast<int64_t>(site.width));
  file_.set_attribute(group, "n_layers", static_cast<int64_t>(site.layers.size()));
}

io::H5Dataset ResultsWriter::create_neuron_dataset(const SiteSpace& site, const std::string& name,
                                                   io::H5Type type) {
  const std::string group = "/" + site.site;
  io::H5Dataset d = file_.create_dataset(
      group + "/" + name, type,
      {static_cast<hsize_t>(site.layers.size()), static_cast<hsize_t>(site.width)});
  d.attach_scale(file_.open_dataset(group + "/layer"), 0);
  d.attach_scale(file_.open_dataset(group + "/neuron"), 1);
  return d;
}

void ResultsWriter::write_neuron_slice(const SiteSpace& site, const std::string& name,
                                       int64_t begin, std::span<const double> values) {
  io::H5Dataset d = create_neuron_dataset(site, name, io::H5Type::F64);
  d.write_flat_range(static_cast<hsize_t>(begin), values.size(), values.data());
}

void ResultsWriter::write_neuron_slice(const SiteSpace& site, const std::string& name,
                                       int64_t begin, std::span<const uint8_t> values) {
  io::H5Dataset d = create_neuron_dataset(site, name, io::H5Type::U8);
  d.write_flat_range(static_cast<hsize_t>(begin), values.size(), values.data());
}

void ResultsWriter::write_shared(const std::string& path, io::H5Type type,
                                 const std::vector<hsize_t>& dims, const void* data) {
  io::H5Dataset d = file_.create_dataset(path, type, dims);
  // An empty dataset (a zero dimension) has no storage to write to: its shape says it all.
  if (std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end()) return;
  std::vector<hsize_t> zero(dims.size(), 0);
  std::vector<hsize_t> count = dims;
  if (!comm_.root()) {
    if (count.empty()) {
      // A scalar: select nothing on other ranks by writing a zero-size 1-element block.
      count = {};
    } else {
      count[0] = 0;
    }
  }
  if (dims.empty() && !comm_.root()) {
    d.write_flat_range(0, 0, data);
  } else {
    d.write_block(zero, count, data);
  }
}

void ResultsWriter::write_shared_strings(const std::string& path,
                                         const std::vector<std::string>& values) {
  file_.write_strings(path, values, comm_.root());
}

void ResultsWriter::write_rows(const std::string& path, io::H5Type type,
                               const std::vector<hsize_t>& dims, int64_t row_begin, int64_t rows,
                               const void* data, const std::vector<std::string>& dim_labels) {
  io::H5Dataset d = file_.create_dataset(path, type, dims);
  for (size_t i = 0; i < dim_labels.size(); ++i) {
    d.label_dimension(static_cast<unsigned>(i), dim_labels[i]);
  }
  std::vector<hsize_t> offset(dims.size(), 0), count = dims;
  offset[0] = static_cast<hsize_t>(row_begin);
  count[0] = static_cast<hsize_t>(rows);
  d.write_block(offset, count, data);
}

void ResultsWriter::write_scale(const std::string& path, const std::string& name,
                                std::vector<int64_t> values) {
  write_shared(path, io::H5Type::I64, {static_cast<hsize_t>(values.size())}, values.data());
  file_.open_dataset(path).make_dimension_scale(name);
}

void ResultsWriter::attach_scales(const std::string& dataset,
                                  const std::vector<std::string>& scales,
                                  const std::vector<std::string>& labels) {
  io::H5Dataset d = file_.open_dataset(dataset);
  for (size_t i = 0; i < scales.size(); ++i) {
    d.attach_scale(file_.open_dataset(scales[i]), static_cast<unsigned>(i));
    if (i < labels.size()) d.label_dimension(static_cast<unsigned>(i), labels[i]);
  }
}

void ResultsWriter::close() {
  file_.close();
}

}  // namespace neurolens::runner
