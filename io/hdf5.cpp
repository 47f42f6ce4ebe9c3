#include "io/hdf5.hpp"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <mpi.h>

#include <algorithm>
#include <mutex>

#include "io/error.hpp"
#include "io/mpi_handle_cast.hpp"

namespace neurolens::io {
namespace {

void silence_hdf5_error_printing() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

herr_t innermost_message(unsigned n, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  if (n == 0 && err->desc != nullptr) *out = err->desc;
  return 0;
}

std::string hdf5_message() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_message, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 reported an error" : msg;
}

H5Handle string_type() {
  hid_t t = h5_check_id(H5Tcopy(H5T_C_S1), "HDF5", "H5Tcopy");
  H5Handle handle(t, H5Tclose);
  h5_check(H5Tset_size(t, H5T_VARIABLE), "HDF5", "H5Tset_size");
  h5_check(H5Tset_cset(t, H5T_CSET_UTF8), "HDF5", "H5Tset_cset");
  return handle;
}

H5Handle open_object(hid_t file, const std::string& context, const std::string& object_path) {
  hid_t obj = H5Oopen(file, object_path.c_str(), H5P_DEFAULT);
  if (obj < 0) throw Error(context + ":" + object_path, "no such object: " + hdf5_message());
  return H5Handle(obj, H5Oclose);
}

void write_attribute(hid_t obj, const std::string& context, const std::string& name, hid_t mem_type,
                     hid_t file_type, const void* value) {
  if (H5Aexists(obj, name.c_str()) > 0) {
    h5_check(H5Adelete(obj, name.c_str()), context, "H5Adelete " + name);
  }
  H5Handle space(h5_check_id(H5Screate(H5S_SCALAR), context, "H5Screate"), H5Sclose);
  H5Handle attr(
      h5_check_id(H5Acreate2(obj, name.c_str(), file_type, space.id(), H5P_DEFAULT, H5P_DEFAULT),
                  context, "create attribute " + name),
      H5Aclose);
  h5_check(H5Awrite(attr.id(), mem_type, value), context, "write attribute " + name);
}

void write_string_attribute(hid_t obj, const std::string& context, const std::string& name,
                            const std::string& value) {
  H5Handle type = string_type();
  const char* ptr = value.c_str();
  write_attribute(obj, context, name, type.id(), type.id(), &ptr);
}

H5Handle transfer_plist(bool collective, const std::string& context) {
  H5Handle plist(h5_check_id(H5Pcreate(H5P_DATASET_XFER), context, "H5Pcreate"), H5Pclose);
  if (collective) {
    h5_check(H5Pset_dxpl_mpio(plist.id(), H5FD_MPIO_COLLECTIVE), context, "H5Pset_dxpl_mpio");
  }
  return plist;
}

}  // namespace

void h5_check(herr_t status, std::string_view context, std::string_view what) {
  if (status < 0) {
    throw Error(std::string(context), std::string(what) + " failed: " + hdf5_message(),
                "check that the file system has space and the path is writable");
  }
}

hid_t h5_check_id(hid_t id, std::string_view context, std::string_view what) {
  h5_check(id < 0 ? -1 : 0, context, what);
  return id;
}

namespace {

// A 16-bit float type made from IEEE f32 as h5py makes its float16: fields, then size, then
// exponent bias. Created once, locked, never closed.
hid_t make_float16(size_t exponent_bits, size_t mantissa_bits, size_t bias) {
  const hid_t t = h5_check_id(H5Tcopy(H5T_IEEE_F32LE), "HDF5", "H5Tcopy");
  h5_check(H5Tset_fields(t, 15, mantissa_bits, exponent_bits, 0, mantissa_bits), "HDF5",
           "H5Tset_fields");
  h5_check(H5Tset_size(t, 2), "HDF5", "H5Tset_size");
  h5_check(H5Tset_ebias(t, bias), "HDF5", "H5Tset_ebias");
  h5_check(H5Tlock(t), "HDF5", "H5Tlock");
  return t;
}

hid_t f16_type() {
  static const hid_t type = make_float16(5, 10, 15);
  return type;
}

hid_t bf16_type() {
  static const hid_t type = make_float16(8, 7, 127);
  return type;
}

}  // namespace

hid_t native_type(H5Type type) {
  switch (type) {
    case H5Type::F32:
      return H5T_NATIVE_FLOAT;
    case H5Type::F64:
      return H5T_NATIVE_DOUBLE;
    case H5Type::I32:
      return H5T_NATIVE_INT32;
    case H5Type::I64:
      return H5T_NATIVE_INT64;
    case H5Type::U8:
      return H5T_NATIVE_UINT8;
    case H5Type::F16:
      return f16_type();
    case H5Type::BF16:
      return bf16_type();
  }
  return H5T_NATIVE_FLOAT;
}

hid_t file_type(H5Type type) {
  switch (type) {
    case H5Type::F32:
      return H5T_IEEE_F32LE;
    case H5Type::F64:
      return H5T_IEEE_F64LE;
    case H5Type::I32:
      return H5T_STD_I32LE;
    case H5Type::I64:
      return H5T_STD_I64LE;
    case H5Type::U8:
      return H5T_STD_U8LE;
    case H5Type::F16:
      return f16_type();
    case H5Type::BF16:
      return bf16_type();
  }
  return H5T_IEEE_F32LE;
}

// ---- H5Dataset -------------------------------------------------------------------------------

void H5Dataset::write_block(std::span<const hsize_t> offset, std::span<const hsize_t> count,
                            const void* data) {
  if (offset.size() != dims_.size() || count.size() != dims_.size()) {
    throw Error(context_, "block rank does not match the dataset's rank");
  }
  hsize_t elements = 1;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (offset[i] + count[i] > dims_[i]) {
      throw Error(context_, "block [" + std::to_string(offset[i]) + ", +" +
                                std::to_string(count[i]) + ") exceeds dimension " +
                                std::to_string(dims_[i]));
    }
    elements *= count[i];
  }
  H5Handle file_space(h5_check_id(H5Dget_space(id()), context_, "H5Dget_space"), H5Sclose);
  H5Handle mem_space;
  if (elements == 0) {
    h5_check(H5Sselect_none(file_space.id()), context_, "H5Sselect_none");
    hsize_t one = 1;
    mem_space = H5Handle(
        h5_check_id(H5Screate_simple(1, &one, nullptr), context_, "H5Screate_simple"), H5Sclose);
    h5_check(H5Sselect_none(mem_space.id()), context_, "H5Sselect_none");
  } else {
    if (!dims_.empty()) {
      h5_check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, offset.data(), nullptr,
                                   count.data(), nullptr),
               context_, "H5Sselect_hyperslab");
    }
    mem_space = H5Handle(
        h5_check_id(dims_.empty()
                        ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                    context_, "H5Screate_simple"),
        H5Sclose);
  }
  H5Handle xfer = transfer_plist(collective_, context_);
  h5_check(H5Dwrite(id(), native_type(type_), mem_space.id(), file_space.id(), xfer.id(), data),
           context_, "H5Dwrite");
}

void H5Dataset::write_flat_range(hsize_t begin, hsize_t count, const void* data) {
  hsize_t total = 1;
  for (hsize_t d : dims_) total *= d;
  if (begin + count > total) {
    throw Error(context_, "flat range [" + std::to_string(begin) + ", +" + std::to_string(count) +
                              ") exceeds " + std::to_string(total) + " elements");
  }
  H5Handle file_space(h5_check_id(H5Dget_space(id()), context_, "H5Dget_space"), H5Sclose);
  hsize_t mem_count = count > 0 ? count : 1;
  H5Handle mem_space(
      h5_check_id(H5Screate_simple(1, &mem_count, nullptr), context_, "H5Screate_simple"),
      H5Sclose);
  if (count == 0) {
    h5_check(H5Sselect_none(file_space.id()), context_, "H5Sselect_none");
    h5_check(H5Sselect_none(mem_space.id()), context_, "H5Sselect_none");
  } else {
    // Row-major pieces over the last dimension: a partial first row, whole rows, a partial
    // last row (dimensions before the last are flattened into rows).
    const hsize_t cols = dims_.empty() ? 1 : dims_.back();
    const int rank = static_cast<int>(dims_.size());
    auto select = [&](hsize_t row, hsize_t col, hsize_t rows, hsize_t ncols, bool first) {
      std::vector<hsize_t> start(dims_.size(), 0), block(dims_.size(), 1);
      hsize_t rest = row;  // unflatten the row index over dims_[0..rank-2]
      for (int d = rank - 2; d >= 0; --d) {
        start[static_cast<size_t>(d)] = rest % dims_[static_cast<size_t>(d)];
        rest /= dims_[static_cast<size_t>(d)];
      }
      start.back() = col;
      block.back() = ncols;
      if (rows > 1) {
        // Whole rows: only valid as one hyperslab when they stay within dimension rank-2.
        block[static_cast<size_t>(rank - 2)] = rows;
      }
      h5_check(H5Sselect_hyperslab(file_space.id(), first ? H5S_SELECT_SET : H5S_SELECT_OR,
                                   start.data(), nullptr, block.data(), nullptr),
               context_, "H5Sselect_hyperslab");
    };
    if (rank == 1) {
      select(0, begin, 1, count, true);
    } else {
      if (rank > 2) throw Error(context_, "write_flat_range supports 1-D and 2-D datasets");
      hsize_t row = begin / cols, col = begin % cols, left = count;
      bool first = true;
      if (col != 0) {
        const hsize_t n = std::min(left, cols - col);
        select(row, col, 1, n, first);
        first = false;
        left -= n;
        ++row;
      }
      if (left >= cols) {
        const hsize_t rows = left / cols;
        select(row, 0, rows, cols, first);
        first = false;
        row += rows;
        left -= rows * cols;
      }
      if (left > 0) select(row, 0, 1, left, first);
    }
  }
  H5Handle xfer = transfer_plist(collective_, context_);
  h5_check(H5Dwrite(id(), native_type(type_), mem_space.id(), file_space.id(), xfer.id(), data),
           context_, "H5Dwrite");
}

void H5Dataset::set_rows(hsize_t rows) {
  if (dims_.empty()) throw Error(context_, "internal: set_rows on a scalar dataset");
  std::vector<hsize_t> dims = dims_;
  dims[0] = rows;
  h5_check(H5Dset_extent(id(), dims.data()), context_, "H5Dset_extent");
  dims_ = std::move(dims);
}

void H5Dataset::write_all(const void* data) {
  std::vector<hsize_t> zero(dims_.size(), 0);
  write_block(zero, dims_, data);
}

void H5Dataset::read_all(H5Type as, void* out) const {
  h5_check(H5Dread(id(), native_type(as), H5S_ALL, H5S_ALL, H5P_DEFAULT, out), context_, "H5Dread");
}

void H5Dataset::read_block(std::span<const hsize_t> offset, std::span<const hsize_t> count,
                           H5Type as, void* out) const {
  if (offset.size() != dims_.size() || count.size() != dims_.size()) {
    throw Error(context_, "block rank " + std::to_string(count.size()) +
                              " does not match the dataset's rank " + std::to_string(dims_.size()));
  }
  hsize_t elements = 1;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (offset[i] + count[i] > dims_[i]) {
      throw Error(context_, "block [" + std::to_string(offset[i]) + ", +" +
                                std::to_string(count[i]) + ") exceeds dimension " +
                                std::to_string(dims_[i]));
    }
    elements *= count[i];
  }
  if (elements == 0) return;
  if (dims_.empty()) {
    read_all(as, out);
    return;
  }
  H5Handle file_space(h5_check_id(H5Dget_space(id()), context_, "H5Dget_space"), H5Sclose);
  h5_check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, offset.data(), nullptr,
                               count.data(), nullptr),
           context_, "H5Sselect_hyperslab");
  H5Handle mem_space(
      h5_check_id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), context_,
                  "H5Screate_simple"),
      H5Sclose);
  h5_check(H5Dread(id(), native_type(as), mem_space.id(), file_space.id(), H5P_DEFAULT, out),
           context_, "H5Dread");
}

namespace {
size_t element_count(const std::vector<hsize_t>& dims) {
  size_t n = 1;
  for (hsize_t d : dims) n *= static_cast<size_t>(d);
  return n;
}
}  // namespace

std::vector<float> H5Dataset::read_f32() const {
  std::vector<float> out(element_count(dims_));
  read_all(H5Type::F32, out.data());
  return out;
}

std::vector<double> H5Dataset::read_f64() const {
  std::vector<double> out(element_count(dims_));
  read_all(H5Type::F64, out.data());
  return out;
}

std::vector<int64_t> H5Dataset::read_i64() const {
  std::vector<int64_t> out(element_count(dims_));
  read_all(H5Type::I64, out.data());
  return out;
}

void H5Dataset::set_attribute(const std::string& name, const std::string& value) {
  write_string_attribute(id(), context_, name, value);
}

void H5Dataset::set_attribute(const std::string& name, double value) {
  write_attribute(id(), context_, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &value);
}

void H5Dataset::set_attribute(const std::string& name, int64_t value) {
  write_attribute(id(), context_, name, H5T_NATIVE_INT64, H5T_STD_I64LE, &value);
}

void H5Dataset::make_dimension_scale(const std::string& dim_name) {
  h5_check(H5DSset_scale(id(), dim_name.c_str()), context_, "H5DSset_scale");
}

void H5Dataset::attach_scale(const H5Dataset& scale, unsigned dim) {
  h5_check(H5DSattach_scale(id(), scale.id(), dim), context_, "H5DSattach_scale");
}

void H5Dataset::label_dimension(unsigned dim, const std::string& label) {
  h5_check(H5DSset_label(id(), dim, label.c_str()), context_, "H5DSset_label");
}

// ---- H5File ----------------------------------------------------------------------------------

H5File H5File::create(const std::filesystem::path& path) {
  return create(path, to_handle(MPI_COMM_NULL));
}

H5File H5File::create(const std::filesystem::path& path, MpiHandle handle) {
  const MPI_Comm comm = to_comm(handle);
  silence_hdf5_error_printing();
  const std::string context = path.string();
  H5Handle fapl(h5_check_id(H5Pcreate(H5P_FILE_ACCESS), context, "H5Pcreate"), H5Pclose);
  const bool collective = comm != MPI_COMM_NULL;
  if (collective) {
    h5_check(H5Pset_fapl_mpio(fapl.id(), comm, MPI_INFO_NULL), context, "H5Pset_fapl_mpio");
    h5_check(H5Pset_all_coll_metadata_ops(fapl.id(), true), context, "coll_metadata_ops");
    h5_check(H5Pset_coll_metadata_write(fapl.id(), true), context, "coll_metadata_write");
  }
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  if (file < 0) {
    throw Error(context, "cannot create HDF5 file: " + hdf5_message(),
                "check that the directory exists and is writable");
  }
  H5File out;
  out.path_ = path;
  out.handle_ = H5Handle(file, H5Fclose);
  out.collective_ = collective;
  return out;
}

H5File H5File::open_read_only(const std::filesystem::path& path) {
  silence_hdf5_error_printing();
  const std::string context = path.string();
  if (!std::filesystem::exists(path)) {
    throw Error(context, "no such file", "give the path of a neurolens results file");
  }
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    throw Error(context, "not a readable HDF5 file: " + hdf5_message(),
                "give the path of a neurolens results (.h5) file");
  }
  H5File out;
  out.path_ = path;
  out.handle_ = H5Handle(file, H5Fclose);
  return out;
}

void H5File::create_group(const std::string& group_path) {
  if (exists(group_path)) return;
  H5Handle lcpl(h5_check_id(H5Pcreate(H5P_LINK_CREATE), path_.string(), "H5Pcreate"), H5Pclose);
  h5_check(H5Pset_create_intermediate_group(lcpl.id(), 1), path_.string(), "lcpl");
  H5Handle group(
      h5_check_id(H5Gcreate2(id(), group_path.c_str(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT),
                  path_.string() + ":" + group_path, "create group"),
      H5Gclose);
}

bool H5File::exists(const std::string& object_path) const {
  if (object_path == "/") return true;
  // Check each component, as H5Lexists requires the parents to exist.
  std::string partial;
  size_t start = object_path.front() == '/' ? 1 : 0;
  while (start <= object_path.size()) {
    size_t end = object_path.find('/', start);
    if (end == std::string::npos) end = object_path.size();
    partial.push_back('/');
    partial.append(object_path, start, end - start);
    htri_t status = H5Lexists(id(), partial.c_str(), H5P_DEFAULT);
    if (status <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    start = end + 1;
  }
  return true;
}

H5Dataset H5File::create_dataset(const std::string& dataset_path, H5Type type,
                                 std::vector<hsize_t> dims) {
  const std::string context = path_.string() + ":" + dataset_path;
  const size_t slash = dataset_path.rfind('/');
  if (slash != std::string::npos && slash > 0) create_group(dataset_path.substr(0, slash));
  H5Handle space(h5_check_id(dims.empty() ? H5Screate(H5S_SCALAR)
                                          : H5Screate_simple(static_cast<int>(dims.size()),
                                                             dims.data(), nullptr),
                             context, "H5Screate_simple"),
                 H5Sclose);
  H5Handle dcpl(h5_check_id(H5Pcreate(H5P_DATASET_CREATE), context, "H5Pcreate"), H5Pclose);
  if (collective_) {
    // Contiguous, allocated at creation: what MPI-IO collective writes want.
    h5_check(H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY), context, "alloc_time");
  }
  hid_t dset = H5Dcreate2(id(), dataset_path.c_str(), file_type(type), space.id(), H5P_DEFAULT,
                          dcpl.id(), H5P_DEFAULT);
  h5_check_id(dset, context, "create dataset");
  return H5Dataset(H5Handle(dset, H5Dclose), context, type, std::move(dims), collective_);
}

H5Dataset H5File::create_chunked_dataset(const std::string& dataset_path, H5Type type,
                                         std::vector<hsize_t> dims, std::vector<hsize_t> chunk) {
  const std::string context = path_.string() + ":" + dataset_path;
  if (dims.empty() || chunk.size() != dims.size()) {
    throw Error(context, "internal: a chunked dataset needs a chunk shape of its rank");
  }
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (chunk[i] < 1 || (i > 0 && chunk[i] > dims[i])) {
      throw Error(context, "internal: chunk dimension " + std::to_string(i) + " out of range");
    }
  }
  const size_t slash = dataset_path.rfind('/');
  if (slash != std::string::npos && slash > 0) create_group(dataset_path.substr(0, slash));
  std::vector<hsize_t> max_dims = dims;
  max_dims[0] = H5S_UNLIMITED;
  H5Handle space(
      h5_check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()),
                  context, "H5Screate_simple"),
      H5Sclose);
  H5Handle dcpl(h5_check_id(H5Pcreate(H5P_DATASET_CREATE), context, "H5Pcreate"), H5Pclose);
  h5_check(H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()), context,
           "H5Pset_chunk");
  h5_check(H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_NEVER), context, "H5Pset_fill_time");
  hid_t dset = H5Dcreate2(id(), dataset_path.c_str(), file_type(type), space.id(), H5P_DEFAULT,
                          dcpl.id(), H5P_DEFAULT);
  h5_check_id(dset, context, "create dataset");
  return H5Dataset(H5Handle(dset, H5Dclose), context, type, std::move(dims), collective_);
}

H5Dataset H5File::open_dataset(const std::string& dataset_path) const {
  const std::string context = path_.string() + ":" + dataset_path;
  if (!exists(dataset_path)) {
    throw Error(context, "no such dataset", "run 'neurolens inspect' to list what the file holds");
  }
  hid_t dset = h5_check_id(H5Dopen2(id(), dataset_path.c_str(), H5P_DEFAULT), context, "open");
  H5Handle handle(dset, H5Dclose);
  H5Handle space(h5_check_id(H5Dget_space(dset), context, "H5Dget_space"), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(static_cast<size_t>(rank > 0 ? rank : 0));
  if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  H5Handle dtype(h5_check_id(H5Dget_type(dset), context, "H5Dget_type"), H5Tclose);
  H5Type type = H5Type::F64;
  const H5T_class_t cls = H5Tget_class(dtype.id());
  const size_t size = H5Tget_size(dtype.id());
  if (cls == H5T_FLOAT) {
    type = size == 4 ? H5Type::F32 : H5Type::F64;
    if (size == 2) type = H5Tget_ebias(dtype.id()) == 15 ? H5Type::F16 : H5Type::BF16;
  } else if (cls == H5T_INTEGER) {
    type = size == 1 ? H5Type::U8 : size == 4 ? H5Type::I32 : H5Type::I64;
  }
  return H5Dataset(std::move(handle), context, type, std::move(dims), false);
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* client) {
  static_cast<std::vector<std::string>*>(client)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> H5File::list(const std::string& group_path) const {
  std::vector<std::string> names;
  H5Handle group(h5_check_id(H5Gopen2(id(), group_path.c_str(), H5P_DEFAULT),
                             path_.string() + ":" + group_path, "open group"),
                 H5Gclose);
  h5_check(H5Literate(group.id(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names),
           path_.string() + ":" + group_path, "list group");
  return names;
}

void H5File::write_strings(const std::string& dataset_path, const std::vector<std::string>& values,
                           bool writer) {
  const std::string context = path_.string() + ":" + dataset_path;
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  H5Handle type(h5_check_id(H5Tcopy(H5T_C_S1), context, "H5Tcopy"), H5Tclose);
  h5_check(H5Tset_size(type.id(), width), context, "H5Tset_size");
  h5_check(H5Tset_strpad(type.id(), H5T_STR_NULLPAD), context, "H5Tset_strpad");
  h5_check(H5Tset_cset(type.id(), H5T_CSET_UTF8), context, "H5Tset_cset");
  const size_t slash = dataset_path.rfind('/');
  if (slash != std::string::npos && slash > 0) create_group(dataset_path.substr(0, slash));
  hsize_t n = values.size();
  H5Handle space(h5_check_id(H5Screate_simple(1, &n, nullptr), context, "H5Screate_simple"),
                 H5Sclose);
  H5Handle dcpl(h5_check_id(H5Pcreate(H5P_DATASET_CREATE), context, "H5Pcreate"), H5Pclose);
  if (collective_) {
    h5_check(H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY), context, "alloc_time");
  }
  H5Handle dset(h5_check_id(H5Dcreate2(id(), dataset_path.c_str(), type.id(), space.id(),
                                       H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                            context, "create dataset"),
                H5Dclose);
  std::vector<char> bytes(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    std::copy(values[i].begin(), values[i].end(), bytes.begin() + static_cast<long>(i * width));
  }
  if (!writer || values.empty()) {
    h5_check(H5Sselect_none(space.id()), context, "H5Sselect_none");
  }
  H5Handle xfer = transfer_plist(collective_, context);
  h5_check(H5Dwrite(dset.id(), type.id(), space.id(), space.id(), xfer.id(),
                    bytes.empty() ? nullptr : bytes.data()),
           context, "H5Dwrite");
}

std::vector<std::string> H5File::read_strings(const std::string& dataset_path) const {
  const std::string context = path_.string() + ":" + dataset_path;
  if (!exists(dataset_path)) throw Error(context, "no such dataset");
  H5Handle dset(h5_check_id(H5Dopen2(id(), dataset_path.c_str(), H5P_DEFAULT), context, "open"),
                H5Dclose);
  H5Handle ftype(h5_check_id(H5Dget_type(dset.id()), context, "H5Dget_type"), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_STRING || H5Tis_variable_str(ftype.id()) > 0) {
    throw Error(context, "not a fixed-length string dataset");
  }
  const size_t width = H5Tget_size(ftype.id());
  H5Handle space(h5_check_id(H5Dget_space(dset.id()), context, "H5Dget_space"), H5Sclose);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id(), &n, nullptr);
  std::vector<char> bytes(static_cast<size_t>(n) * width);
  if (n > 0) {
    h5_check(H5Dread(dset.id(), ftype.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), context,
             "H5Dread");
  }
  std::vector<std::string> out;
  for (hsize_t i = 0; i < n; ++i) {
    std::string v(bytes.data() + i * width, width);
    while (!v.empty() && v.back() == '\0') v.pop_back();
    out.push_back(std::move(v));
  }
  return out;
}

void H5File::set_attribute(const std::string& object_path, const std::string& name,
                           const std::string& value) {
  H5Handle obj = open_object(id(), path_.string(), object_path);
  write_string_attribute(obj.id(), path_.string() + ":" + object_path, name, value);
}

void H5File::set_attribute(const std::string& object_path, const std::string& name, double value) {
  H5Handle obj = open_object(id(), path_.string(), object_path);
  write_attribute(obj.id(), path_.string() + ":" + object_path, name, H5T_NATIVE_DOUBLE,
                  H5T_IEEE_F64LE, &value);
}

void H5File::set_attribute(const std::string& object_path, const std::string& name, int64_t value) {
  H5Handle obj = open_object(id(), path_.string(), object_path);
  write_attribute(obj.id(), path_.string() + ":" + object_path, name, H5T_NATIVE_INT64,
                  H5T_STD_I64LE, &value);
}

bool H5File::has_attribute(const std::string& object_path, const std::string& name) const {
  H5Handle obj = open_object(id(), path_.string(), object_path);
  return H5Aexists(obj.id(), name.c_str()) > 0;
}

std::string H5File::string_attribute(const std::string& object_path,
                                     const std::string& name) const {
  const std::string context = path_.string() + ":" + object_path + "@" + name;
  H5Handle obj = open_object(id(), path_.string(), object_path);
  hid_t a = H5Aopen(obj.id(), name.c_str(), H5P_DEFAULT);
  if (a < 0) throw Error(context, "no such attribute: " + hdf5_message());
  H5Handle attr(a, H5Aclose);
  H5Handle ftype(h5_check_id(H5Aget_type(a), context, "H5Aget_type"), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_STRING) throw Error(context, "attribute is not a string");
  if (H5Tis_variable_str(ftype.id()) > 0) {
    H5Handle type = string_type();
    char* value = nullptr;
    h5_check(H5Aread(a, type.id(), &value), context, "H5Aread");
    std::string out = value != nullptr ? value : "";
    H5free_memory(value);
    return out;
  }
  const size_t size = H5Tget_size(ftype.id());
  std::string out(size, '\0');
  h5_check(H5Aread(a, ftype.id(), out.data()), context, "H5Aread");
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

double H5File::number_attribute(const std::string& object_path, const std::string& name) const {
  const std::string context = path_.string() + ":" + object_path + "@" + name;
  H5Handle obj = open_object(id(), path_.string(), object_path);
  hid_t a = H5Aopen(obj.id(), name.c_str(), H5P_DEFAULT);
  if (a < 0) throw Error(context, "no such attribute: " + hdf5_message());
  H5Handle attr(a, H5Aclose);
  double value = 0;
  h5_check(H5Aread(a, H5T_NATIVE_DOUBLE, &value), context, "H5Aread");
  return value;
}

void H5File::close() {
  if (!handle_.valid()) return;
  // MPI-IO files must have every object closed first (H5F_CLOSE_SEMI); serial ones close weakly.
  const ssize_t open_objects =
      collective_ ? H5Fget_obj_count(handle_.id(), H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_ATTR)
                  : 0;
  if (open_objects > 0) {
    throw Error(
        path_.string(),
        "internal: " + std::to_string(open_objects) + " HDF5 objects are still open at close",
        "close every H5Dataset before H5File::close()");
  }
  h5_check(H5Fflush(handle_.id(), H5F_SCOPE_GLOBAL), path_.string(), "flush");
  h5_check(handle_.close_checked(), path_.string(), "close");
}

namespace {
herr_t collect_attribute_name(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> H5File::attribute_names(const std::string& object_path) const {
  std::vector<std::string> names;
  hid_t o = H5Oopen(id(), object_path.c_str(), H5P_DEFAULT);
  if (o < 0) return names;
  hsize_t idx = 0;
  H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, collect_attribute_name, &names);
  H5Oclose(o);
  return names;
}

bool H5File::is_string_attribute(const std::string& object_path, const std::string& name) const {
  hid_t o = H5Oopen(id(), object_path.c_str(), H5P_DEFAULT);
  if (o < 0) return false;
  hid_t a = H5Aopen(o, name.c_str(), H5P_DEFAULT);
  hid_t t = a >= 0 ? H5Aget_type(a) : -1;
  const bool s = t >= 0 && H5Tget_class(t) == H5T_STRING;
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Oclose(o);
  return s;
}

bool H5Dataset::is_string() const {
  hid_t t = H5Dget_type(id());
  const bool s = t >= 0 && H5Tget_class(t) == H5T_STRING;
  if (t >= 0) H5Tclose(t);
  return s;
}

bool H5File::is_dataset(const std::string& object_path) const {
  H5O_info_t info{};
  return H5Oget_info_by_name2(id(), object_path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
         info.type == H5O_TYPE_DATASET;
}

}  // namespace neurolens::io
