// Sites — the neurons a job analyses: for every requested hook site (layer-generic name such as
// "mlp.hook_pre" or "hidden_states") the selected layers, their hook points and the width.
// Owns: resolving the job's `hooks` and `layers` keys against a model, with errors naming the
// key; the flat neuron index of a site (layer-major: neuron j of the i-th selected layer is
// i * width + j), which the runner shards across ranks.
// Example:
//   std::vector<SiteSpace> sites = resolve_sites({"mlp.hook_pre"}, "0-3", model.config);
//   sites[0].neurons() == 4 * model.config.d_mlp
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/arch/hooks.hpp"
#include "model/load/config.hpp"

namespace neurolens::runner {

struct SiteSpace {
  std::string site;                      // "mlp.hook_pre", "hidden_states", "hook_embed", ...
  std::vector<int> layers;               // selected layers (one entry, -1, for layer-less sites)
  std::vector<model::HookPoint> points;  // one per selected layer
  int width = 0;                         // D or F
  int64_t neurons() const { return static_cast<int64_t>(layers.size()) * width; }
};

// "all" / "3" / "0-5" / "0,2,7-9" against a model with `n` layers (hidden_states: n + 1 indices).
// Throws neurolens::Error on `key`.
std::vector<int> parse_layers(const std::string& spec, int n, const std::string& key);

std::vector<SiteSpace> resolve_sites(const std::vector<std::string>& sites,
                                     const std::string& layers, const model::ModelConfig& config);

}  // namespace neurolens::runner
