// Fuzz target: the safetensors reader (model/load/safetensors.cpp) on an arbitrary file: header
// length, JSON header, dtypes, shapes, data_offsets (range, size, overlap), then every tensor's
// element count and, for the float dtypes, its conversion to fp32 (reads exactly the bytes the
// header promised: ASan catches any read past the mapping).
#include <cstddef>
#include <cstdint>

#include "io/error.hpp"
#include "model/load/safetensors.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(safetensors) {
  using namespace neurolens;
  const auto path = fuzz::scratch_dir() / "model.safetensors";
  fuzz::write_file(path, fuzz::as_view(data, size));
  try {
    const model::SafetensorsFile file(path);
    std::size_t total = 0;
    for (const model::TensorInfo& t : file.tensors()) {
      if (file.find(t.name) == nullptr) __builtin_trap();
      if (t.begin + t.nbytes > file.bytes().size()) __builtin_trap();
      (void)model::shape_string(t.shape);
      (void)t.numel();
      if (t.dtype == model::DType::F32 || t.dtype == model::DType::F16 ||
          t.dtype == model::DType::BF16) {
        total += t.nbytes;
        if (total <= (1u << 20)) (void)model::to_f32(file, t);
      }
    }
    (void)file.metadata().size();
  } catch (const Error&) {
  }
  return 0;
}
