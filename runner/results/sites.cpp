#include "runner/results/sites.hpp"

#include <algorithm>
#include <charconv>

#include "io/error.hpp"
#include "io/text.hpp"

namespace neurolens::runner {

std::vector<SiteSpace> resolve_sites(const std::vector<std::string>& sites,
                                     const std::string& layers, const model::ModelConfig& config) {
  std::vector<SiteSpace> out;
  for (const std::string& site : sites) {
    SiteSpace space;
    space.site = site;
    if (site == "hook_embed" || site == "hook_pos_embed" || site == "ln_final.hook_normalized") {
      space.layers = {-1};
      space.points = {model::parse_hook_name(site, config)};
    } else {
      const bool hidden = site == "hidden_states";
      if (!hidden && site.rfind("blocks.", 0) == 0) {
        throw Error("hooks: " + site, "give the layer-generic site name, not a layer's hook",
                    "e.g. hooks = mlp.hook_pre with layers = 3");
      }
      space.layers = parse_layers(layers, config.n_layers + (hidden ? 1 : 0), "layers");
      for (int layer : space.layers) {
        const std::string name = hidden ? "hidden_states." + std::to_string(layer)
                                        : "blocks." + std::to_string(layer) + "." + site;
        try {
          space.points.push_back(model::parse_hook_name(name, config));
        } catch (const Error&) {
          throw Error("hooks: " + site, "unknown hook site",
                      "use one of hook_embed, hook_pos_embed, hook_resid_pre, attn.hook_q, "
                      "attn.hook_k, attn.hook_v, attn.hook_z, hook_attn_out, hook_resid_mid, "
                      "mlp.hook_pre, mlp.hook_post, hook_mlp_out, hook_resid_post, "
                      "ln_final.hook_normalized, hidden_states");
        }
      }
    }
    space.width = model::hook_width(space.points.front(), config);
    for (const SiteSpace& other : out) {
      if (other.site == site) throw Error("hooks: " + site, "site listed twice", "list it once");
    }
    out.push_back(std::move(space));
  }
  return out;
}

std::vector<int> parse_layers(const std::string& spec, int n, const std::string& key) {
  std::vector<int> out;
  const std::string hint =
      "give all, N, A-B or a comma-separated list, with layers 0 to " + std::to_string(n - 1);
  if (trim(spec) == "all") {
    for (int i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  auto parse_int = [&](const std::string& s) {
    int v = -1;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      throw Error(key, "'" + s + "' is not a layer number", hint);
    }
    if (v < 0 || v >= n) {
      throw Error(
          key, "layer " + s + " does not exist: the model has layers 0 to " + std::to_string(n - 1),
          hint);
    }
    return v;
  };
  for (const std::string& item : split(spec, ',')) {
    const size_t dash = item.find('-');
    if (dash != std::string::npos && dash > 0) {
      const int a = parse_int(trim(item.substr(0, dash)));
      const int b = parse_int(trim(item.substr(dash + 1)));
      if (b < a) throw Error(key, "range '" + item + "' runs backwards", hint);
      for (int i = a; i <= b; ++i) out.push_back(i);
    } else {
      out.push_back(parse_int(item));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty()) throw Error(key, "no layers given", hint);
  return out;
}

}  // namespace neurolens::runner
