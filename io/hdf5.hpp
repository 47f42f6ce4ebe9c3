// Checked HDF5 — every HDF5 call of the project goes through these wrappers.
// Owns: RAII handles (files, groups, datasets, attributes, property lists), error checking that
// turns a failed call into neurolens::Error naming the file and object, serial or MPI-IO files,
// collective hyperslab writes, chunked datasets that grow along their first dimension, 16-bit
// float types (IEEE half, bfloat16), attributes, and HDF5 dimension scales (so netCDF / xarray
// readers see named dimensions). HDF5's own error printing is switched off; its innermost message
// is folded into our one-line error instead. Example:
//   H5File f = H5File::create("out.h5.tmp", comm.raw());   // or create(path): serial
//   H5Dataset d = f.create_dataset("/mlp.hook_pre/t", H5Type::F64, {n_layers, width});
//   d.write_block({0, first_neuron}, {n_layers, my_count}, my_values.data());   // collective
//   f.close();
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/mpi_handle.hpp"

// The HDF5 scalar types this API shows, declared exactly as <hdf5.h> declares them (hdf5.cpp
// includes both, so a mismatch does not compile). This header includes neither <hdf5.h> nor,
// through parallel HDF5, <mpi.h>: the studies that write results see no MPI.
typedef int64_t hid_t;
typedef int herr_t;
typedef unsigned long long hsize_t;

namespace neurolens::io {

// Throws neurolens::Error(context, "<what> failed: <HDF5 message>") when status < 0.
void h5_check(herr_t status, std::string_view context, std::string_view what);
hid_t h5_check_id(hid_t id, std::string_view context, std::string_view what);

// Owning hid_t with the right close function.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(H5Handle&& other) noexcept { swap(other); }
  H5Handle& operator=(H5Handle&& other) noexcept {
    H5Handle tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() { reset(); }

  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_ != nullptr) closer_(id_);
    id_ = -1;
  }
  // Closes and reports failure (for the final, collective close of a file).
  herr_t close_checked() {
    herr_t status = 0;
    if (id_ >= 0 && closer_ != nullptr) status = closer_(id_);
    id_ = -1;
    return status;
  }

 private:
  void swap(H5Handle& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(closer_, other.closer_);
  }
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// F16 and BF16 are 16-bit floats on disk and their bit patterns (uint16_t, converted by the
// caller, e.g. model/ops/half.hpp) in memory: F16 = IEEE binary16, which h5py / numpy read as
// float16; BF16 = bfloat16 described as an HDF5 float (sign bit 15, 8-bit exponent at bit 7, bias
// 127, 7-bit mantissa), which h5py reads as float32 (exactly), as read_f32() does.
enum class H5Type { F32, F64, I32, I64, U8, F16, BF16 };
// The memory type of `type` (F16 / BF16: the 16-bit float types themselves).
hid_t native_type(H5Type type);
// The little-endian file type of `type`.
hid_t file_type(H5Type type);

class H5Dataset {
 public:
  H5Dataset() = default;
  H5Dataset(H5Handle handle, std::string context, H5Type type, std::vector<hsize_t> dims,
            bool collective)
      : handle_(std::move(handle)),
        context_(std::move(context)),
        type_(type),
        dims_(std::move(dims)),
        collective_(collective) {}

  hid_t id() const { return handle_.id(); }
  const std::vector<hsize_t>& dims() const { return dims_; }
  H5Type type() const { return type_; }

  // Writes a [count...] block at [offset...]; in MPI-IO files every rank must call it
  // (collective), a rank without data passes count with a zero.
  void write_block(std::span<const hsize_t> offset, std::span<const hsize_t> count,
                   const void* data);
  void write_all(const void* data);  // the whole dataset (serial files, or every rank the same)
  // Resizes dimension 0 of a dataset made by H5File::create_chunked_dataset to `rows`
  // (H5Dset_extent). Collective in MPI-IO files: every rank passes the same rows.
  void set_rows(hsize_t rows);
  // Writes elements [begin, begin + count) of the dataset in row-major (flattened) order; the
  // runner's neuron slices of [n_layers, width] datasets. Collective in MPI-IO files.
  void write_flat_range(hsize_t begin, hsize_t count, const void* data);
  // Reads the whole dataset converted to `as`.
  void read_all(H5Type as, void* out) const;
  // Reads the [count...] block at [offset...] converted to `as` into `out` (row-major, the
  // block's element count); serial files. Throws naming the dataset when the block exceeds it.
  void read_block(std::span<const hsize_t> offset, std::span<const hsize_t> count, H5Type as,
                  void* out) const;
  std::vector<float> read_f32() const;
  std::vector<double> read_f64() const;
  std::vector<int64_t> read_i64() const;
  bool is_string() const;  // a dataset of strings (read_strings), not numbers

  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, double value);
  void set_attribute(const std::string& name, int64_t value);
  // Marks this dataset as a dimension scale named `dim_name` (netCDF: a coordinate variable).
  void make_dimension_scale(const std::string& dim_name);
  // Attaches `scale` as the dimension scale of dimension `dim` of this dataset.
  void attach_scale(const H5Dataset& scale, unsigned dim);
  // Labels dimension `dim` (shows up as the dimension name in h5py / xarray).
  void label_dimension(unsigned dim, const std::string& label);

 private:
  H5Handle handle_;
  std::string context_;
  H5Type type_ = H5Type::F32;
  std::vector<hsize_t> dims_;
  bool collective_ = false;
};

class H5File {
 public:
  // Creates (truncates) a serial file written by one process.
  static H5File create(const std::filesystem::path& path);
  // Creates (truncates) an MPI-IO file that every rank of the MPI_Comm `comm` (io/mpi_handle.hpp)
  // opens collectively.
  static H5File create(const std::filesystem::path& path, MpiHandle comm);
  static H5File open_read_only(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  hid_t id() const { return handle_.id(); }
  bool collective() const { return collective_; }

  // Creates a group (and its parents) if it does not exist yet.
  void create_group(const std::string& group_path);
  bool exists(const std::string& object_path) const;
  bool is_dataset(const std::string& object_path) const;  // exists and is a dataset
  H5Dataset create_dataset(const std::string& dataset_path, H5Type type, std::vector<hsize_t> dims);
  // A chunked dataset (chunk shape `chunk`, same rank as dims, every entry >= 1) whose first
  // dimension can grow without limit (H5Dataset::set_rows); no fill values are written. For
  // outputs whose row count is known only as they are written. Collective in MPI-IO files.
  H5Dataset create_chunked_dataset(const std::string& dataset_path, H5Type type,
                                   std::vector<hsize_t> dims, std::vector<hsize_t> chunk);
  H5Dataset open_dataset(const std::string& dataset_path) const;
  std::vector<std::string> list(const std::string& group_path) const;  // member names
  // A 1-D dataset of fixed-length UTF-8 strings (h5py reads bytes, xarray strings). In MPI-IO
  // files every rank calls it with the same values; only `writer` writes the data.
  void write_strings(const std::string& dataset_path, const std::vector<std::string>& values,
                     bool writer = true);
  std::vector<std::string> read_strings(const std::string& dataset_path) const;

  void set_attribute(const std::string& object_path, const std::string& name,
                     const std::string& value);
  void set_attribute(const std::string& object_path, const std::string& name, double value);
  void set_attribute(const std::string& object_path, const std::string& name, int64_t value);
  std::string string_attribute(const std::string& object_path, const std::string& name) const;
  double number_attribute(const std::string& object_path, const std::string& name) const;
  bool has_attribute(const std::string& object_path, const std::string& name) const;
  // The names of an object's attributes (in name order); whether one holds a string.
  std::vector<std::string> attribute_names(const std::string& object_path) const;
  bool is_string_attribute(const std::string& object_path, const std::string& name) const;

  // Flushes and closes; throws if HDF5 reports a failure (e.g. disk full). Collective.
  void close();

 private:
  std::filesystem::path path_;
  H5Handle handle_;
  bool collective_ = false;
};

}  // namespace neurolens::io
