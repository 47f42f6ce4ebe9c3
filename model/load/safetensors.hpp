// safetensors — reader and writer of the Hugging Face safetensors format.
// Owns: the file layout [u64 little-endian header length N][N bytes JSON header][data], the
// validation of every header entry against the file (dtype known, shape * dtype size == byte
// range, ranges inside the data section and not overlapping), and writing files the same way
// the official writer does (header padded with spaces to a multiple of 8, "__metadata__"
// {"format": "pt"}, tensors contiguous in the order given).
// Example:
//   SafetensorsFile f("model.safetensors");          // mmap + validate; throws neurolens::Error
//   const TensorInfo* t = f.find("wte.weight");      // t->shape == {V, D}, t->dtype == DType::F32
//   std::vector<float> w = to_f32(f, *t);            // any of F32/F16/BF16 -> fp32
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/load/mapped_file.hpp"

namespace neurolens::model {

// All dtypes of the safetensors spec are recognised (so buffers such as a BOOL attn.bias do not
// make a checkpoint unreadable); only F32, F16 and BF16 can be converted to fp32.
enum class DType {
  F64,
  F32,
  F16,
  BF16,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  BOOL,
  F8_E4M3,
  F8_E5M2
};

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
std::optional<DType> parse_dtype(const std::string& name);  // "F32" -> DType::F32

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;  // byte offset of the data in the file (absolute, not data_offsets)
  std::size_t nbytes = 0;
  std::int64_t numel() const;
};

std::string shape_string(const std::vector<std::int64_t>& shape);  // "[768, 2304]"

class SafetensorsFile {
 public:
  // Maps the file and validates the whole header. Throws neurolens::Error naming the file (and
  // the tensor where one is at fault).
  explicit SafetensorsFile(const std::filesystem::path& path);
  // Validates a file whose bytes are already in memory (same checks, same errors).
  explicit SafetensorsFile(MappedFile file_bytes);

  const std::filesystem::path& path() const { return map_.path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in data order
  const TensorInfo* find(const std::string& name) const;               // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The raw bytes of a tensor, inside the map.
  const std::byte* data(const TensorInfo& t) const { return map_.data() + t.begin; }
  // The whole mapped file.
  std::span<const std::byte> bytes() const { return map_.bytes(); }

 private:
  MappedFile map_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Converts a F32/F16/BF16 tensor to fp32 (exact). Throws for other dtypes.
std::vector<float> to_f32(const SafetensorsFile& file, const TensorInfo& t);
// Converts n raw elements of dtype (F32/F16/BF16) into out[0..n).
void convert_to_f32(DType dtype, const std::byte* src, std::size_t n, float* out);
// Encodes fp32 values as dtype (F32/F16/BF16; round to nearest even) into little-endian bytes.
std::vector<std::byte> encode_f32(std::span<const float> values, DType dtype);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;  // numel * dtype_size bytes, little-endian
};

// Writes a safetensors file at `path` (not atomic by itself; write into a temp dir and rename).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace neurolens::model
