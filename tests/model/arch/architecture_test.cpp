// The architecture registry and the site table: lookup by model_type, the errors users see, and
// that hook order, widths, workspace and packed bytes all come from the architecture.
#include "model/arch/architecture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"

namespace neurolens::model {
namespace {

const std::filesystem::path kModels = std::filesystem::path(NEUROLENS_FIXTURES) / "models";

std::string error_of(const std::string& model_type) {
  try {
    find_architecture(model_type);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Architecture, RegistryFindsEveryModelType) {
  EXPECT_EQ(architecture_names(),
            (std::vector<std::string>{"gemma", "gemma2", "gpt2", "gpt_neo", "gpt_neox", "llama",
                                      "mistral", "qwen2"}));
  for (const std::string& name : architecture_names()) {
    EXPECT_EQ(find_architecture(name).model_type(), name);
  }
  const std::string msg = error_of("mamba");
  EXPECT_NE(msg.find("\"mamba\" is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gpt2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("qwen2"), std::string::npos) << msg;
}

// The site table is the one source of a block's hook order and widths.
TEST(Architecture, HookOrderAndWidthsFollowTheSiteTable) {
  for (const char* variant :
       {"gpt2_f32", "gpt_neo_f32", "neox_parallel_f32", "neox_sequential_bf16_sharded"}) {
    const Model m = load_model(kModels / variant);
    const ModelConfig& c = m.config;
    const std::span<const BlockSite> sites = architecture_of(c).block_sites(c);
    ASSERT_FALSE(sites.empty());
    for (int l = 0; l < c.n_layers; ++l) {
      for (int s = 0; s < static_cast<int>(sites.size()); ++s) {
        const HookPoint p{sites[static_cast<std::size_t>(s)].site, l};
        EXPECT_EQ(hook_order(p, c), block_slot_order(l, s, c)) << hook_name(p);
        EXPECT_EQ(hook_width(p, c), site_width(sites[static_cast<std::size_t>(s)].width, c))
            << hook_name(p);
      }
      if (l + 1 < c.n_layers) {
        EXPECT_EQ(hook_order({HookSite::HiddenStates, l + 1}, c),
                  block_slot_order(l, static_cast<int>(sites.size()), c));
      }
    }
    // k / v widths are n_kv_heads x head_dim (equal to D without grouped-query attention).
    ModelConfig gqa = c;
    gqa.n_kv_heads = 1;
    EXPECT_EQ(hook_width({HookSite::AttnK, 0}, gqa), c.head_dim());
    EXPECT_EQ(hook_width({HookSite::AttnQ, 0}, gqa), c.d_model);
    EXPECT_EQ(hook_width({HookSite::MlpPre, 0}, gqa), c.d_mlp);
  }
}

TEST(Architecture, BlockWeightsByName) {
  const Model m = load_model(kModels / "gpt_neo_f32");
  const BlockWeights& b = m.weights.blocks.at(0);
  EXPECT_EQ(b.linear("fc").out, m.config.d_mlp);
  EXPECT_TRUE(b.linear("q").out_in);
  EXPECT_EQ(b.linear("q").bias, nullptr);
  EXPECT_NE(b.norm("ln_2").beta, nullptr);
  try {
    b.linear("gate");
    FAIL() << "found a gate view in GPT-Neo";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attn_out"), std::string::npos) << e.what();
  }
}

TEST(Architecture, PackedBytesAndFlopsFromTheBlockGemms) {
  const Model m = load_model(kModels / "gpt2_f32");
  const ModelConfig& c = m.config;
  std::size_t per_block = 0;
  for (const BlockGemm& g : architecture_of(c).block_gemms(c)) {
    per_block += PackedBf16Matrix::bytes_for(g.in, g.out);
  }
  EXPECT_EQ(ForwardPass::packed_bytes_for(c, Precision::Bf16),
            per_block * static_cast<std::size_t>(c.n_layers));
  const ForwardPass fwd(m, 2, 16);
  const std::vector<HookPoint> all = all_hook_points(c);
  EXPECT_EQ(fwd.gemm_flops(2, 16, all), fwd.gemm_flops(2, 16, c.n_layers - 1));
  EXPECT_GT(fwd.gemm_flops(2, 16, std::vector<HookPoint>{{HookSite::MlpPre, 0}}),
            fwd.gemm_flops(2, 16, std::vector<HookPoint>{{HookSite::AttnQ, 0}}));
}

// An architecture without learned positions (rotary): no wpe, no hook_pos_embed, and
// hidden_states.0 is the token embedding alone.
TEST(Architecture, ModelWithoutPositionEmbeddings) {
  Model m = load_model(kModels / "gpt2_f32");
  m.config.position_embeddings = false;
  m.weights.wpe = nullptr;
  const ModelConfig& c = m.config;
  for (const HookPoint& p : all_hook_points(c)) EXPECT_NE(p.site, HookSite::PosEmbed);
  EXPECT_THROW(parse_hook_name("hook_pos_embed", c), Error);
  ForwardPass fwd(m, 1, 4);
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  std::vector<float> embed(4 * c.d_model), hidden(4 * c.d_model), pos(4 * c.d_model);
  const CaptureRequest req[] = {{{HookSite::Embed, -1}, embed.data()},
                                {{HookSite::HiddenStates, 0}, hidden.data()}};
  fwd.run(tokens, 1, 4, req);
  EXPECT_EQ(embed, hidden);
  const CaptureRequest bad[] = {{{HookSite::PosEmbed, -1}, pos.data()}};
  EXPECT_THROW(fwd.run(tokens, 1, 4, bad), Error);
}

}  // namespace
}  // namespace neurolens::model
