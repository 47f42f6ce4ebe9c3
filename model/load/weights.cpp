#include "model/load/weights.hpp"

#include "io/error.hpp"

namespace neurolens::model {
namespace {

template <typename Named>
const auto& find_view(const std::vector<Named>& views, std::string_view name, const char* kind) {
  for (const Named& v : views) {
    if (v.name == name) return v.w;
  }
  std::string names;
  for (const Named& v : views) names += (names.empty() ? "" : ", ") + v.name;
  throw Error(std::string("BlockWeights::") + kind + "(\"" + std::string(name) + "\")",
              std::string("the block has no ") + kind + " view of that name",
              "use one of: " + names);
}

}  // namespace

const Linear& BlockWeights::linear(std::string_view name) const {
  return find_view(linears, name, "linear");
}

const LayerNormWeights& BlockWeights::norm(std::string_view name) const {
  return find_view(norms, name, "norm");
}

}  // namespace neurolens::model
