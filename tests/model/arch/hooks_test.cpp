// Hook names: parsing, printing, wildcards, model order, widths and the errors users see.
#include "model/arch/hooks.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "io/error.hpp"

namespace neurolens::model {
namespace {

ModelConfig config(int n_layers = 3) {
  ModelConfig c;
  c.model_type = "gpt2";
  c.n_layers = n_layers;
  c.d_model = 48;
  c.n_heads = 4;
  c.d_mlp = 192;
  c.n_vocab = 512;
  c.n_positions = 64;
  c.attention_kinds.assign(n_layers, AttentionKind::Global);
  return c;
}

std::vector<std::string> names(const std::vector<HookPoint>& points) {
  std::vector<std::string> out;
  for (const HookPoint& p : points) out.push_back(hook_name(p));
  return out;
}

std::string error_of(std::string_view name, const ModelConfig& c) {
  try {
    parse_hook_name(name, c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Hooks, NamesAsTransformerLensAndHuggingFace) {
  EXPECT_EQ(hook_name({HookSite::MlpPre, 3}), "blocks.3.mlp.hook_pre");
  EXPECT_EQ(hook_name({HookSite::MlpPost, 0}), "blocks.0.mlp.hook_post");
  EXPECT_EQ(hook_name({HookSite::AttnQ, 2}), "blocks.2.attn.hook_q");
  EXPECT_EQ(hook_name({HookSite::AttnZ, 1}), "blocks.1.attn.hook_z");
  EXPECT_EQ(hook_name({HookSite::ResidPre, 1}), "blocks.1.hook_resid_pre");
  EXPECT_EQ(hook_name({HookSite::AttnOut, 1}), "blocks.1.hook_attn_out");
  EXPECT_EQ(hook_name({HookSite::MlpOut, 1}), "blocks.1.hook_mlp_out");
  EXPECT_EQ(hook_name({HookSite::HiddenStates, 5}), "hidden_states.5");
  EXPECT_EQ(hook_name({HookSite::Embed, -1}), "hook_embed");
  EXPECT_EQ(hook_name({HookSite::PosEmbed, -1}), "hook_pos_embed");
  EXPECT_EQ(hook_name({HookSite::LnFinalNormalized, -1}), "ln_final.hook_normalized");
  EXPECT_EQ(hook_site_name(HookSite::MlpPre), "mlp.hook_pre");
  EXPECT_EQ(hook_site_name(HookSite::ResidPost), "hook_resid_post");
  EXPECT_EQ(hook_site_name(HookSite::AttnQ), "attn.hook_q");
  EXPECT_EQ(hook_site_name(HookSite::HiddenStates), "hidden_states");
  EXPECT_EQ(hook_site_name(HookSite::Embed), "hook_embed");
}

TEST(Hooks, EveryPointRoundTripsInStrictModelOrder) {
  const ModelConfig c = config(3);
  const std::vector<HookPoint> all = all_hook_points(c);
  // 3 global + 11 per block + hidden_states.1..L-1 + ln_final + hidden_states.L
  EXPECT_EQ(all.size(), 3u + 11u * 3 + 2 + 2);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string n = hook_name(all[i]);
    EXPECT_TRUE(seen.insert(n).second) << n;
    EXPECT_EQ(parse_hook_name(n, c), all[i]) << n;
    if (i > 0) {
      EXPECT_LT(hook_order(all[i - 1], c), hook_order(all[i], c)) << n;
    }
  }
  EXPECT_EQ(hook_last_block({HookSite::Embed, -1}, c), -1);
  EXPECT_EQ(hook_last_block({HookSite::HiddenStates, 0}, c), -1);
  EXPECT_EQ(hook_last_block({HookSite::HiddenStates, 2}, c), 1);
  EXPECT_EQ(hook_last_block({HookSite::HiddenStates, 3}, c), 2);
  EXPECT_EQ(hook_last_block({HookSite::LnFinalNormalized, -1}, c), 2);
  EXPECT_EQ(hook_last_block({HookSite::AttnK, 1}, c), 1);
}

TEST(Hooks, Widths) {
  const ModelConfig c = config();
  EXPECT_EQ(hook_width({HookSite::MlpPre, 0}, c), 192);
  EXPECT_EQ(hook_width({HookSite::MlpPost, 2}, c), 192);
  EXPECT_EQ(hook_width({HookSite::AttnV, 2}, c), 48);
  EXPECT_EQ(hook_width({HookSite::HiddenStates, 3}, c), 48);
  EXPECT_EQ(hook_width({HookSite::Embed, -1}, c), 48);
}

TEST(Hooks, WildcardsResolveInModelOrderWithoutDuplicates) {
  const ModelConfig c = config(3);
  const std::vector<std::string> p1 = {"blocks.*.mlp.hook_pre"};
  EXPECT_EQ(names(resolve_hook_patterns(p1, c)),
            (std::vector<std::string>{"blocks.0.mlp.hook_pre", "blocks.1.mlp.hook_pre",
                                      "blocks.2.mlp.hook_pre"}));
  const std::vector<std::string> p2 = {"hidden_states.*", "blocks.1.mlp.hook_post",
                                       "blocks.*.mlp.hook_post", "hook_embed", "hidden_states.2"};
  EXPECT_EQ(
      names(resolve_hook_patterns(p2, c)),
      (std::vector<std::string>{"hook_embed", "hidden_states.0", "blocks.0.mlp.hook_post",
                                "hidden_states.1", "blocks.1.mlp.hook_post", "hidden_states.2",
                                "blocks.2.mlp.hook_post", "hidden_states.3"}));
  const std::vector<std::string> p3 = {"blocks.2.attn.*"};
  EXPECT_EQ(names(resolve_hook_patterns(p3, c)),
            (std::vector<std::string>{"blocks.2.attn.hook_q", "blocks.2.attn.hook_k",
                                      "blocks.2.attn.hook_v", "blocks.2.attn.hook_z"}));
  const std::vector<std::string> none = {"blocks.*.mlp.hook_nothing"};
  EXPECT_THROW(resolve_hook_patterns(none, c), Error);
  const std::vector<std::string> bad = {"blocks.3.mlp.hook_pre"};
  EXPECT_THROW(resolve_hook_patterns(bad, c), Error);
}

TEST(Hooks, UnknownNamesListTheValidForms) {
  const ModelConfig c = config(3);
  for (const char* name : {"blocks.0.mlp.hook_preact", "mlp.hook_pre", "blocks.x.mlp.hook_pre",
                           "blocks..hook_resid_pre", "hook_embedding", "hidden_states.", "",
                           "hidden_states.-1", "blocks.01.hook_resid_pre"}) {
    const std::string e = error_of(name, c);
    EXPECT_NE(e.find("valid hook names"), std::string::npos) << name << " -> " << e;
    EXPECT_NE(e.find("blocks.L."), std::string::npos) << e;
  }
}

TEST(Hooks, IndicesBeyondTheModelAreErrors) {
  const ModelConfig c = config(3);
  std::string e = error_of("blocks.3.hook_resid_post", c);
  EXPECT_NE(e.find("layer 3 is beyond the model"), std::string::npos) << e;
  EXPECT_NE(e.find("3 layers"), std::string::npos) << e;
  e = error_of("hidden_states.4", c);
  EXPECT_NE(e.find("beyond the model"), std::string::npos) << e;
  EXPECT_EQ(parse_hook_name("hidden_states.3", c), (HookPoint{HookSite::HiddenStates, 3}));
  EXPECT_EQ(parse_hook_name("blocks.2.hook_resid_post", c), (HookPoint{HookSite::ResidPost, 2}));
}

}  // namespace
}  // namespace neurolens::model
