// Report builders: escaping, colours, density grid, box statistics, and a 300,000-neuron
// synthetic results file (36 layers x 8192 neurons of random t / p) whose page stays small.
#include "runner/report/report_html.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "io/error.hpp"
#include "io/hdf5.hpp"
#include "runner/results/reader.hpp"

namespace neurolens::runner {
namespace {

namespace fs = std::filesystem;

TEST(Report, EscapesHtmlAndInvalidUtf8) {
  EXPECT_EQ(html_escape("<b> & \"x\" 'y'"), "&lt;b&gt; &amp; &quot;x&quot; &#39;y&#39;");
  EXPECT_EQ(html_escape("caf\xc3\xa9 \xe2\x86\x92"), "caf\xc3\xa9 \xe2\x86\x92");
  EXPECT_EQ(html_escape("a\xff"
                        "b"),
            "a\xef\xbf\xbd"
            "b");                                                  // stray byte
  EXPECT_EQ(html_escape("\xe2\x86"), "\xef\xbf\xbd\xef\xbf\xbd");  // truncated sequence
  EXPECT_EQ(html_escape(std::string("x\0y", 3)), "x\xef\xbf\xbdy");
  EXPECT_EQ(html_escape("</script><script>"), "&lt;/script&gt;&lt;script&gt;");
}

TEST(Report, DivergingColours) {
  EXPECT_EQ(diverging_color(0), "#ffffff");
  EXPECT_EQ(diverging_color(1), "#d62728");
  EXPECT_EQ(diverging_color(-1), "#1f77b4");
  EXPECT_EQ(diverging_color(5), "#d62728");  // clamped
  EXPECT_EQ(diverging_color(NAN), "#ffffff");
}

TEST(Report, DensityGridClampsIntoEdgeCells) {
  DensityGrid g(4, 2, 0, 4, 0, 2);
  g.add(0.5, 0.5);
  g.add(3.9, 1.9);
  g.add(-10, -10);  // clamped to (0, 0)
  g.add(10, 10);    // clamped to (3, 1)
  EXPECT_EQ(g.at(0, 0), 2);
  EXPECT_EQ(g.at(3, 1), 2);
  EXPECT_EQ(std::accumulate(g.counts.begin(), g.counts.end(), int64_t{0}), 4);
}

TEST(Report, BoxStatsDropNaN) {
  const BoxStats b = box_stats({4, 1, NAN, 3, 2, 5});
  EXPECT_EQ(b.n, 5);
  EXPECT_DOUBLE_EQ(b.min, 1);
  EXPECT_DOUBLE_EQ(b.median, 3);
  EXPECT_DOUBLE_EQ(b.max, 5);
  EXPECT_DOUBLE_EQ(b.q1, 2);
  EXPECT_EQ(box_stats({NAN}).n, 0);
}

TEST(Report, HeatmapEscapesTokensAndShowsValues) {
  const std::string h = text_heatmap_html({"<a>", " b&"}, {2.0f, -1.0f}, {0, 1}, 10);
  EXPECT_NE(h.find("&lt;a&gt;"), std::string::npos);
  EXPECT_NE(h.find(" b&amp;"), std::string::npos);
  EXPECT_NE(h.find("title=\"2\""), std::string::npos);
  EXPECT_NE(h.find("background:#d62728"), std::string::npos);
  EXPECT_NE(h.find("<hr>"), std::string::npos);  // new sequence
  EXPECT_EQ(h.find("<a>"), std::string::npos);
}

TEST(Report, VolcanoDrawsMarksAndUnderflowBand) {
  VolcanoData d;
  d.x_label = "t";
  d.x = {1, -2, 3, NAN};
  d.p = {0.5, 1e-10, 0, 0.1};
  d.threshold = 1e-5;
  d.threshold_label = "Bonferroni";
  d.marks.push_back({1, "L0 #1 <x>", false, ""});
  const std::string s = volcano_svg(d);
  EXPECT_NE(s.find("<title>L0 #1 &lt;x&gt;</title>"), std::string::npos);
  EXPECT_NE(s.find("p = 0 (underflow"), std::string::npos);
  EXPECT_NE(s.find("1 neurons with NaN statistics"), std::string::npos);
  EXPECT_NE(s.find("class=\"thr\""), std::string::npos);
  EXPECT_EQ(s.find("NaN\""), std::string::npos);  // no NaN coordinates
}

// 36 layers x 8192 neurons of random t / p with a few significant ones, written like
// ResultsWriter does (layer / neuron dimension scales).
fs::path write_big_results(const fs::path& dir) {
  const fs::path path = dir / "big.h5";
  const hsize_t L = 36, W = 8192;
  io::H5File f = io::H5File::create(path);
  f.set_attribute("/", "study", std::string("contrast"));
  f.set_attribute("/", "test", std::string("welch"));
  f.set_attribute("/", "model", std::string("/nonexistent/model"));
  f.set_attribute("/", "correction", std::string("bonferroni"));
  f.set_attribute("/", "alpha", 0.05);
  f.set_attribute("/", "threshold", 0.05 / static_cast<double>(L * W));
  f.set_attribute("/", "family_size", static_cast<int64_t>(L * W));
  f.create_group("/mlp.hook_pre");
  std::vector<int64_t> layers(L), neurons(W);
  std::iota(layers.begin(), layers.end(), 0);
  std::iota(neurons.begin(), neurons.end(), 0);
  io::H5Dataset dl = f.create_dataset("/mlp.hook_pre/layer", io::H5Type::I64, {L});
  dl.write_all(layers.data());
  dl.make_dimension_scale("layer");
  io::H5Dataset dn = f.create_dataset("/mlp.hook_pre/neuron", io::H5Type::I64, {W});
  dn.write_all(neurons.data());
  dn.make_dimension_scale("neuron");
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  std::vector<double> t(L * W), p(L * W), d(L * W), padj(L * W);
  std::vector<uint8_t> sig(L * W);
  for (size_t i = 0; i < t.size(); ++i) {
    t[i] = normal(rng) * (i % 997 == 0 ? 12 : 1);
    p[i] = std::erfc(std::fabs(t[i]) / std::sqrt(2.0));
    if (i % 50021 == 0) p[i] = 0;  // underflow
    d[i] = t[i] / 10;
    padj[i] = std::min(1.0, p[i] * static_cast<double>(L * W));
    sig[i] = padj[i] <= 0.05;
  }
  t[5] = NAN;
  p[5] = NAN;
  auto put = [&](const char* name, io::H5Type type, const void* data) {
    io::H5Dataset ds = f.create_dataset(std::string("/mlp.hook_pre/") + name, type, {L, W});
    ds.write_all(data);
    ds.attach_scale(dl, 0);
    ds.attach_scale(dn, 1);
  };
  put("t", io::H5Type::F64, t.data());
  put("p", io::H5Type::F64, p.data());
  put("cohens_d", io::H5Type::F64, d.data());
  put("p_adjusted", io::H5Type::F64, padj.data());
  put("significant", io::H5Type::U8, sig.data());
  f.close();
  return path;
}

TEST(Report, ThreeHundredThousandNeuronsStaySmall) {
  const fs::path dir = fs::temp_directory_path() / ("nl_report_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = write_big_results(dir);
  const auto start = std::chrono::steady_clock::now();
  const Results r = read_results(path);
  const std::string page = render_report(r);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("300k neurons: %.1f kB in %.2f s\n", static_cast<double>(page.size()) / 1e3, seconds);
  EXPECT_LT(page.size(), 2'000'000u);
  EXPECT_LT(seconds, 20.0);
  for (const char* id :
       {"summary", "volcano", "significant-per-layer", "distribution", "top-neurons"}) {
    EXPECT_NE(page.find(std::string("<section id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(page.find("p = 0 (underflow"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  const std::vector<NeuronRef> top = top_neurons(r, 10);
  ASSERT_EQ(top.size(), 10u);
  EXPECT_EQ(r.sites[0].value("p", top[0].flat), 0.0);
  fs::remove_all(dir);
}

// An examples result: its 3- to 5-D datasets are not read as columns, /examples's vocabulary is
// not read as study data; the top neurons by max activation come with their best texts.
TEST(Report, ExamplesResult) {
  const Results r = read_results(std::string(NEUROLENS_FIXTURES) + "/examples/examples.h5");
  ASSERT_EQ(r.sites.size(), 2u);
  const SiteResults& mlp = r.sites[1];
  EXPECT_EQ(mlp.name, "mlp.hook_post");
  for (const auto& [name, column] : mlp.columns) {
    EXPECT_EQ(column.size(), 6u) << name;
  }
  EXPECT_TRUE(mlp.has("max_activation"));
  EXPECT_FALSE(mlp.has("top_value"));
  EXPECT_EQ(r.study_data.count("examples"), 0u);
  EXPECT_EQ(r.study_attributes.at("examples").size(), 14u);  // seq_len, top_k, ...

  const std::vector<ExampleNeuron> top = top_example_neurons(r, 3, 2, 2);
  ASSERT_EQ(top.size(), 3u);  // all max 4: site order, then layer-major neuron order
  EXPECT_EQ(top[2].ref.site, 1u);
  EXPECT_EQ(top[2].ref.flat, 0);
  ASSERT_EQ(top[2].texts.size(), 2u);
  const ExampleText& t = top[2].texts[0];  // window 0, max at its last token
  EXPECT_EQ(t.tokens, (std::vector<std::string>{" the", " mat", "."}));
  EXPECT_EQ(t.marked, 2u);
  EXPECT_EQ(t.value, 4.0f);
  EXPECT_EQ(t.activations.back(), 4.0f);
  EXPECT_EQ(t.document, 0);
  EXPECT_EQ(t.token, 7);
  // Window 1 (document 0 from 8), max at position 3: the first byte of "é", which shows at 4.
  const ExampleText& u = top[2].texts[1];
  EXPECT_EQ(u.tokens, (std::vector<std::string>{" caf", "", "\xc3\xa9", " cat", " sat"}));
  EXPECT_EQ(u.marked, 2u);
  EXPECT_EQ(u.token, 11);
  EXPECT_TRUE(top_example_neurons(r, 0).empty());

  const std::string page = render_report(r);
  EXPECT_NE(page.find("<section id=\"examples\">"), std::string::npos);
  EXPECT_NE(page.find("<section id=\"study\">"), std::string::npos);
  EXPECT_EQ(page.find("<section id=\"volcano\">"), std::string::npos);
}

TEST(Report, NotAResultsFile) {
  EXPECT_THROW(read_results("/nonexistent/results.h5"), Error);
}

}  // namespace
}  // namespace neurolens::runner
