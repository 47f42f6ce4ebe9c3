#include "model/arch/hooks.hpp"

#include <algorithm>
#include <charconv>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"

namespace neurolens::model {
namespace {

struct SiteName {
  HookSite site;
  const char* name;  // after "blocks.L."
};

// The names of block sites (TransformerLens). Which of them a model has, in which order and how
// wide, is its architecture's site table (ModelArchitecture::block_sites).
constexpr SiteName kBlockSiteNames[] = {
    {HookSite::ResidPre, "hook_resid_pre"},   {HookSite::AttnQ, "attn.hook_q"},
    {HookSite::AttnK, "attn.hook_k"},         {HookSite::AttnV, "attn.hook_v"},
    {HookSite::AttnZ, "attn.hook_z"},         {HookSite::AttnOut, "hook_attn_out"},
    {HookSite::ResidMid, "hook_resid_mid"},   {HookSite::MlpPre, "mlp.hook_pre"},
    {HookSite::MlpPost, "mlp.hook_post"},     {HookSite::MlpOut, "hook_mlp_out"},
    {HookSite::ResidPost, "hook_resid_post"}, {HookSite::AttnRotQ, "attn.hook_rot_q"},
    {HookSite::AttnRotK, "attn.hook_rot_k"},  {HookSite::MlpPreLinear, "mlp.hook_pre_linear"},
};

bool is_block_site(HookSite site) {
  return std::any_of(std::begin(kBlockSiteNames), std::end(kBlockSiteNames),
                     [&](const SiteName& b) { return b.site == site; });
}

// Model-order slots per block: its sites, then hidden_states.(L+1).
int slots_per_block(std::span<const BlockSite> sites) {
  return static_cast<int>(sites.size()) + 1;
}

std::string valid_forms(const ModelConfig& config) {
  std::string s = std::string("valid hook names: hook_embed, ") +
                  (config.position_embeddings ? "hook_pos_embed, " : "") +
                  "ln_final.hook_normalized, "
                  "hidden_states.I (I in 0.." +
                  std::to_string(config.n_layers) + "), blocks.L.{";
  const std::span<const BlockSite> sites = architecture_of(config).block_sites(config);
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (i) s += ", ";
    s += hook_site_name(sites[i].site);
  }
  s += "} (L in 0.." + std::to_string(config.n_layers - 1) + "); '*' may replace the index";
  return s;
}

// Parses a non-negative decimal integer filling all of s.
bool parse_index(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Glob match where '*' matches any (possibly empty) run of characters.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

std::string hook_site_name(HookSite site) {
  switch (site) {
    case HookSite::Embed:
      return "hook_embed";
    case HookSite::PosEmbed:
      return "hook_pos_embed";
    case HookSite::LnFinalNormalized:
      return "ln_final.hook_normalized";
    case HookSite::HiddenStates:
      return "hidden_states";
    default:
      break;
  }
  for (const SiteName& b : kBlockSiteNames) {
    if (b.site == site) return b.name;
  }
  throw Error("hook_site_name", "unknown hook site " + std::to_string(static_cast<int>(site)));
}

std::string hook_name(const HookPoint& point) {
  if (point.site == HookSite::HiddenStates) return "hidden_states." + std::to_string(point.layer);
  if (is_block_site(point.site)) {
    return "blocks." + std::to_string(point.layer) + "." + hook_site_name(point.site);
  }
  return hook_site_name(point.site);
}

HookPoint parse_hook_name(std::string_view name, const ModelConfig& config) {
  const std::string context = "hook '" + std::string(name) + "'";
  const int n_layers = config.n_layers;
  if (name == "hook_embed") return {HookSite::Embed, -1};
  if (name == "hook_pos_embed") {
    if (!config.position_embeddings) {
      throw Error(context, "this model has no learned position embeddings", valid_forms(config));
    }
    return {HookSite::PosEmbed, -1};
  }
  if (name == "ln_final.hook_normalized") return {HookSite::LnFinalNormalized, -1};
  constexpr std::string_view kHidden = "hidden_states.";
  constexpr std::string_view kBlocks = "blocks.";
  if (name.starts_with(kHidden)) {
    int i = 0;
    if (!parse_index(name.substr(kHidden.size()), i)) {
      throw Error(context, "the hidden state index is not a non-negative integer",
                  valid_forms(config));
    }
    if (i > n_layers) {
      throw Error(context,
                  "index " + std::to_string(i) + " is beyond the model (hidden_states.0.." +
                      std::to_string(n_layers) + " for " + std::to_string(n_layers) + " layers)",
                  "use an index in 0.." + std::to_string(n_layers));
    }
    return {HookSite::HiddenStates, i};
  }
  if (name.starts_with(kBlocks)) {
    std::string_view rest = name.substr(kBlocks.size());
    const std::size_t dot = rest.find('.');
    int layer = 0;
    if (dot == std::string_view::npos || !parse_index(rest.substr(0, dot), layer)) {
      throw Error(context, "expected blocks.<layer>.<site> with a non-negative layer index",
                  valid_forms(config));
    }
    const std::string_view site = rest.substr(dot + 1);
    for (const BlockSite& b : architecture_of(config).block_sites(config)) {
      if (site != hook_site_name(b.site)) continue;
      if (layer >= n_layers) {
        throw Error(context,
                    "layer " + std::to_string(layer) + " is beyond the model (" +
                        std::to_string(n_layers) + " layers: blocks.0..blocks." +
                        std::to_string(n_layers - 1) + ")",
                    "use a layer index in 0.." + std::to_string(n_layers - 1));
      }
      return {b.site, layer};
    }
    for (const SiteName& b : kBlockSiteNames) {
      if (site != b.name) continue;
      // A TransformerLens site that this model's blocks do not produce.
      std::string why =
          "this " + config.model_type + " model's blocks have no '" + std::string(site) + "'";
      if (b.site == HookSite::ResidMid && config.parallel_residual) {
        why +=
            " (parallel residual: attention and MLP both read hook_resid_pre, and the stream "
            "has no state between them)";
      }
      throw Error(context, why, valid_forms(config));
    }
    throw Error(context, "unknown block hook '" + std::string(site) + "'", valid_forms(config));
  }
  throw Error(context, "unknown hook name", valid_forms(config));
}

int hook_order(const HookPoint& point, const ModelConfig& config) {
  const int n_layers = config.n_layers;
  const std::span<const BlockSite> sites = architecture_of(config).block_sites(config);
  const int slots = slots_per_block(sites);
  const int end = 3 + n_layers * slots;
  switch (point.site) {
    case HookSite::Embed:
      return 0;
    case HookSite::PosEmbed:
      return 1;
    case HookSite::LnFinalNormalized:
      return end;
    case HookSite::HiddenStates:
      if (point.layer == 0) return 2;
      if (point.layer >= n_layers) return end + 1;
      return 3 + (point.layer - 1) * slots + slots - 1;
    default:
      break;
  }
  for (int i = 0; i < static_cast<int>(sites.size()); ++i) {
    if (sites[i].site == point.site) return 3 + point.layer * slots + i;
  }
  return end + 2;
}

int hook_last_block(const HookPoint& point, const ModelConfig& config) {
  switch (point.site) {
    case HookSite::Embed:
    case HookSite::PosEmbed:
      return -1;
    case HookSite::LnFinalNormalized:
      return config.n_layers - 1;
    case HookSite::HiddenStates:
      return point.layer - 1;
    default:
      return point.layer;
  }
}

std::vector<HookPoint> all_hook_points(const ModelConfig& config) {
  std::vector<HookPoint> points = {{HookSite::Embed, -1}};
  if (config.position_embeddings) points.push_back({HookSite::PosEmbed, -1});
  points.push_back({HookSite::HiddenStates, 0});
  const std::span<const BlockSite> sites = architecture_of(config).block_sites(config);
  for (int l = 0; l < config.n_layers; ++l) {
    for (const BlockSite& b : sites) points.push_back({b.site, l});
    if (l + 1 < config.n_layers) points.push_back({HookSite::HiddenStates, l + 1});
  }
  points.push_back({HookSite::LnFinalNormalized, -1});
  points.push_back({HookSite::HiddenStates, config.n_layers});
  return points;
}

std::vector<HookPoint> resolve_hook_patterns(std::span<const std::string> patterns,
                                             const ModelConfig& config) {
  const std::vector<HookPoint> all = all_hook_points(config);
  std::vector<char> chosen(all.size(), 0);
  for (const std::string& pattern : patterns) {
    if (pattern.find('*') == std::string::npos) {
      const HookPoint p = parse_hook_name(pattern, config);
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i] == p) chosen[i] = 1;
      }
      continue;
    }
    bool any = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (glob_match(pattern, hook_name(all[i]))) {
        chosen[i] = 1;
        any = true;
      }
    }
    if (!any) {
      throw Error("hook pattern '" + pattern + "'", "matches no hook point of this model",
                  valid_forms(config));
    }
  }
  std::vector<HookPoint> out;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (chosen[i]) out.push_back(all[i]);
  }
  return out;
}

int hook_width(const HookPoint& point, const ModelConfig& config) {
  if (is_block_site(point.site)) {
    for (const BlockSite& b : architecture_of(config).block_sites(config)) {
      if (b.site == point.site) return site_width(b.width, config);
    }
  }
  return config.d_model;
}

int block_slot_order(int layer, int slot, const ModelConfig& config) {
  return 3 + layer * slots_per_block(architecture_of(config).block_sites(config)) + slot;
}

}  // namespace neurolens::model
