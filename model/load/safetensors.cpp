#include "model/load/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/ops/half.hpp"

namespace neurolens::model {
namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8},         {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},           {DType::U64, "U64", 8},
    {DType::U32, "U32", 4},   {DType::U16, "U16", 2},         {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

const DTypeRow& row(DType d) {
  for (const auto& r : kDTypes) {
    if (r.dtype == d) return r;
  }
  return kDTypes[1];
}

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

const char* const kHintRedownload =
    "re-download or re-convert the checkpoint (e.g. save_pretrained(..., safe_serialization=True))";

}  // namespace

std::size_t dtype_size(DType dtype) {
  return row(dtype).size;
}
const char* dtype_name(DType dtype) {
  return row(dtype).name;
}

std::optional<DType> parse_dtype(const std::string& name) {
  for (const auto& r : kDTypes) {
    if (name == r.name) return r.dtype;
  }
  return std::nullopt;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : SafetensorsFile(MappedFile(path)) {}

SafetensorsFile::SafetensorsFile(MappedFile file_bytes) : map_(std::move(file_bytes)) {
  const std::string file = map_.path().string();
  const std::size_t size = map_.size();
  if (size < 8) {
    throw Error(file,
                "truncated: " + std::to_string(size) +
                    " bytes, too short for the 8-byte safetensors header length",
                kHintRedownload);
  }
  const std::uint64_t header_len = read_u64_le(map_.data());
  if (header_len > size - 8) {
    throw Error(file,
                "header length " + std::to_string(header_len) + " runs past the end of the " +
                    std::to_string(size) + "-byte file (truncated or not safetensors)",
                kHintRedownload);
  }
  const std::size_t data_start = 8 + static_cast<std::size_t>(header_len);
  const std::size_t data_size = size - data_start;
  const char* hbegin = reinterpret_cast<const char*>(map_.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbegin, hbegin + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(file, std::string("invalid JSON header: ") + e.what(), kHintRedownload);
  }
  if (!header.is_object()) throw Error(file, "JSON header is not an object", kHintRedownload);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const std::string ctx = file + ": " + name;
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error(ctx, "must be an object of strings", kHintRedownload);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          throw Error(ctx + "." + m.key(), "metadata value is not a string", kHintRedownload);
        }
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) throw Error(ctx, "header entry is not an object", kHintRedownload);
    TensorInfo t;
    t.name = name;
    if (!v.contains("dtype") || !v["dtype"].is_string()) {
      throw Error(ctx, "missing or non-string \"dtype\"", kHintRedownload);
    }
    const std::string dt = v["dtype"].get<std::string>();
    const auto parsed = parse_dtype(dt);
    if (!parsed) {
      throw Error(ctx, "unknown dtype \"" + dt + "\"",
                  "convert the checkpoint to F32, F16 or BF16");
    }
    t.dtype = *parsed;
    if (!v.contains("shape") || !v["shape"].is_array()) {
      throw Error(ctx, "missing or non-array \"shape\"", kHintRedownload);
    }
    // numel * dtype size, checked against overflow (bounded by the file size).
    std::uint64_t bytes = dtype_size(t.dtype);
    bool overflow = false;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
        throw Error(ctx, "shape " + v["shape"].dump() + " has a non-integer or negative dimension",
                    kHintRedownload);
      }
      const auto dim = d.get<std::uint64_t>();
      t.shape.push_back(static_cast<std::int64_t>(dim));
      if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim) overflow = true;
      bytes *= dim;
    }
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2 || !v["data_offsets"][0].is_number_unsigned() ||
        !v["data_offsets"][1].is_number_unsigned()) {
      throw Error(ctx, "\"data_offsets\" must be two non-negative integers [begin, end]",
                  kHintRedownload);
    }
    const auto b = v["data_offsets"][0].get<std::uint64_t>();
    const auto e = v["data_offsets"][1].get<std::uint64_t>();
    if (b > e || e > data_size) {
      throw Error(ctx,
                  "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                      "] out of range of the " + std::to_string(data_size) +
                      "-byte data section (file truncated?)",
                  kHintRedownload);
    }
    if (overflow || e - b != bytes) {
      throw Error(ctx,
                  "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] hold " +
                      std::to_string(e - b) + " bytes but dtype " + dt + " x shape " +
                      shape_string(t.shape) + " needs " +
                      (overflow ? std::string("more than 2^64") : std::to_string(bytes)),
                  kHintRedownload);
    }
    t.begin = data_start + static_cast<std::size_t>(b);
    t.nbytes = static_cast<std::size_t>(e - b);
    tensors_.push_back(std::move(t));
  }
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.nbytes < b.nbytes;
  });
  for (std::size_t i = 1; i < tensors_.size(); ++i) {
    const TensorInfo& prev = tensors_[i - 1];
    const TensorInfo& cur = tensors_[i];
    if (cur.begin < prev.begin + prev.nbytes) {
      throw Error(file + ": " + cur.name,
                  "data overlaps tensor " + prev.name + " (data_offsets [" +
                      std::to_string(cur.begin - data_start) + ", ...) inside [" +
                      std::to_string(prev.begin - data_start) + ", " +
                      std::to_string(prev.begin - data_start + prev.nbytes) + "))",
                  kHintRedownload);
    }
  }
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void convert_to_f32(DType dtype, const std::byte* src, std::size_t n, float* out) {
  if (n == 0) return;  // an empty tensor: `out` may be null (memcpy(nullptr, ..., 0) is UB)
  switch (dtype) {
    case DType::F32:
      std::memcpy(out, src, n * 4);
      return;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    default:
      throw Error(std::string("dtype ") + dtype_name(dtype), "cannot be converted to fp32",
                  "convert the checkpoint to F32, F16 or BF16");
  }
}

std::vector<float> to_f32(const SafetensorsFile& file, const TensorInfo& t) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16) {
    throw Error(file.path().string() + ": " + t.name,
                std::string("dtype ") + dtype_name(t.dtype) + " is not supported (F32, F16, BF16)",
                "convert the checkpoint to F32, F16 or BF16");
  }
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  convert_to_f32(t.dtype, file.data(t), out.size(), out.data());
  return out;
}

std::vector<std::byte> encode_f32(std::span<const float> values, DType dtype) {
  std::vector<std::byte> out(values.size() * dtype_size(dtype));
  switch (dtype) {
    case DType::F32:
      if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
      break;
    case DType::F16:
      for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t h = f32_to_f16(values[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t h = f32_to_bf16(values[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    default:
      throw Error(std::string("dtype ") + dtype_name(dtype), "cannot be encoded from fp32",
                  "use F32, F16 or BF16");
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<std::uint64_t>(d);
    if (numel * dtype_size(t.dtype) != t.bytes.size()) {
      throw Error(path.string() + ": " + t.name,
                  "has " + std::to_string(t.bytes.size()) + " bytes, shape " +
                      shape_string(t.shape) + " x " + dtype_name(t.dtype) + " needs " +
                      std::to_string(numel * dtype_size(t.dtype)),
                  "pass consistent tensor data to write_safetensors");
    }
    if (header.contains(t.name)) {
      throw Error(path.string() + ": " + t.name, "duplicate tensor name", "name tensors uniquely");
    }
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string(), "cannot create file", "check the directory is writable");
  unsigned char len[8];
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xffu);
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : tensors) {
    out.write(reinterpret_cast<const char*>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  }
  out.flush();
  if (!out) throw Error(path.string(), "write failed", "check free disk space");
}

}  // namespace neurolens::model
