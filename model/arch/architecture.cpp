#include "model/arch/architecture.hpp"

#include <algorithm>

#include "io/error.hpp"

// Every architecture file's registration function, listed by model/CMakeLists.txt from the
// NEUROLENS_REGISTER_ARCHITECTURE lines it finds in model/arch/*.cpp.
#define NEUROLENS_ARCHITECTURE_ENTRY(name)    \
  namespace neurolens::model::arch_registry { \
  const ModelArchitecture& name();            \
  }
#include "model/arch/registered_architectures.inc"
#undef NEUROLENS_ARCHITECTURE_ENTRY

namespace neurolens::model {
namespace {

// The registered architectures, sorted by model_type.
const std::vector<const ModelArchitecture*>& registry() {
  static const std::vector<const ModelArchitecture*> all = [] {
    std::vector<const ModelArchitecture*> v = {
#define NEUROLENS_ARCHITECTURE_ENTRY(name) &arch_registry::name(),
#include "model/arch/registered_architectures.inc"
#undef NEUROLENS_ARCHITECTURE_ENTRY
    };
    std::sort(v.begin(), v.end(), [](const ModelArchitecture* a, const ModelArchitecture* b) {
      return std::string(a->model_type()) < b->model_type();
    });
    for (std::size_t i = 1; i < v.size(); ++i) {
      if (std::string(v[i - 1]->model_type()) == v[i]->model_type()) {
        throw Error(std::string("architecture registry: model_type \"") + v[i]->model_type() + "\"",
                    "is registered twice", "give each model/arch/*.cpp its own model_type");
      }
    }
    return v;
  }();
  return all;
}

}  // namespace

int site_width(SiteWidth width, const ModelConfig& config) {
  switch (width) {
    case SiteWidth::Model:
      return config.d_model;
    case SiteWidth::Mlp:
      return config.d_mlp;
    case SiteWidth::QHeads:
      return config.n_heads * config.head_dim();
    case SiteWidth::KvHeads:
      return config.kv_heads() * config.head_dim();
  }
  return config.d_model;
}

std::vector<std::string> architecture_names() {
  std::vector<std::string> names;
  for (const ModelArchitecture* a : registry()) names.emplace_back(a->model_type());
  return names;
}

const ModelArchitecture& find_architecture(const std::string& model_type,
                                           const std::string& where) {
  for (const ModelArchitecture* a : registry()) {
    if (model_type == a->model_type()) return *a;
  }
  std::string names;
  const std::vector<std::string> all = architecture_names();
  for (std::size_t i = 0; i < all.size(); ++i) {
    names += (i == 0 ? "" : i + 1 == all.size() ? " and " : ", ") + all[i];
  }
  throw Error(where, "\"" + model_type + "\" is not supported",
              "neurolens reads " + names + " checkpoints");
}

const ModelArchitecture& architecture_of(const ModelConfig& config) {
  return find_architecture(config.model_type, "model config");
}

}  // namespace neurolens::model
