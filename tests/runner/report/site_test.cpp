// neurolens site on the examples fixture (tests/reference/make_examples_results.py): a page for
// every neuron, every link resolving to a file, escaping, multi-byte characters joined, and the
// errors of the command (one line, non-zero exit, nothing left behind).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "runner/report/site_build.hpp"
#include "runner/report/site_index.hpp"
#include "runner/report/site_text.hpp"

namespace {

namespace fs = std::filesystem;
using namespace neurolens::runner;

const std::string kFixture = std::string(NEUROLENS_FIXTURES) + "/examples/examples.h5";

struct Output {
  int code;
  std::string out;
};

Output run(const std::string& args) {
  const std::string cmd = std::string(NEUROLENS_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

class SiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("neurolens-site-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// (site folder, layer) rows of the fixture: mlp.hook_post layers 1, 2 x 3; hook_resid_post 2 x 2.
const std::vector<std::tuple<std::string, int, int>> kLayers = {
    {"mlp.hook_post", 1, 3}, {"mlp.hook_post", 2, 3}, {"hook_resid_post", 2, 2}};

TEST_F(SiteTest, WritesAPageForEveryNeuronAndNothingElseBeside) {
  const fs::path out = dir_ / "site";
  const SiteStats stats = build_site(kFixture, out, {});
  EXPECT_EQ(stats.neurons, 8);
  for (const auto& [site, layer, width] : kLayers) {
    for (int n = 0; n < width; ++n) {
      EXPECT_TRUE(fs::is_regular_file(out / site_neuron_path(site, layer, n))) << site << layer;
    }
  }
  EXPECT_FALSE(fs::exists(out / site_neuron_path("mlp.hook_post", 1, 3)));
  for (const char* f :
       {"index.html", "assets/site.js", "assets/site.css", "assets/index-data.js", kSiteMarker}) {
    EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
  }
  // Only the site itself in the parent: the build directory was renamed, not left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
  // The index data: one row per neuron.
  const std::string data = slurp(out / "assets/index-data.js");
  int rows = 0;
  for (size_t p = data.find("\n["); p != std::string::npos; p = data.find("\n[", p + 1)) ++rows;
  EXPECT_EQ(rows, 8);
}

TEST_F(SiteTest, EveryLinkResolvesToAFileAndNothingIsRemote) {
  const fs::path out = dir_ / "site";
  build_site(kFixture, out, {});
  const std::regex link(R"re((href|src)="([^"#]*)(#[^"]*)?")re");
  int pages = 0, links = 0;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (e.path().extension() != ".html") continue;
    ++pages;
    const std::string html = slurp(e.path());
    EXPECT_TRUE(valid_utf8(html)) << e.path();
    EXPECT_EQ(html.find("http:"), std::string::npos) << e.path();
    EXPECT_EQ(html.find("https:"), std::string::npos) << e.path();
    for (std::sregex_iterator m(html.begin(), html.end(), link), end; m != end; ++m) {
      const std::string target = (*m)[2];
      if (target.empty()) continue;
      ++links;
      EXPECT_TRUE(fs::is_regular_file(e.path().parent_path() / target))
          << e.path() << " -> " << target;
    }
  }
  EXPECT_EQ(pages, 9);
  EXPECT_GE(links, 8 * 6);
  // Previous / next form a ring: the first page's previous is the last page.
  const std::string first = slurp(out / site_neuron_path("hook_resid_post", 2, 0));
  EXPECT_NE(first.find("id=prev href=\"../../../n/mlp.hook_post/2/2.html\""), std::string::npos);
  EXPECT_NE(first.find("id=next href=\"../../../n/hook_resid_post/2/1.html\""), std::string::npos);
  // The random link's fallback and the script's site list cover every page.
  const std::string js = slurp(out / "assets/site.js");
  EXPECT_NE(js.find("{\"name\": \"mlp.hook_post\", \"dir\": \"mlp.hook_post\", \"width\": 3, "
                    "\"layers\": [1,2]}"),
            std::string::npos)
      << js.substr(0, 400);
}

TEST_F(SiteTest, EscapesTokensAndJoinsSplitCharacters) {
  const fs::path out = dir_ / "site";
  build_site(kFixture, out, {});
  const std::string page = slurp(out / site_neuron_path("mlp.hook_post", 1, 0));
  // The special token is escaped, never raw markup.
  EXPECT_NE(page.find("&lt;|endoftext|&gt;"), std::string::npos);
  EXPECT_EQ(page.find("<|endoftext|>"), std::string::npos);
  // Window 1 (\nThe café cat sat.): " caf", 0xC3, 0xA9 -> the 0xC3 token shows nothing, the
  // 0xA9 token shows "é"; the newline is visible and breaks the line.
  EXPECT_NE(
      page.find(" caf</i><i class=\"p9 m\" title=3.75></i><i class=p3 title=1.25>\xc3\xa9</i>"),
      std::string::npos);
  EXPECT_NE(page.find("\xe2\x86\xb5\n</i>"), std::string::npos);
  // Window 3: 0xC3 followed by " the" never completes, 0xFF never forms a character: U+FFFD.
  EXPECT_NE(page.find("\xef\xbf\xbd"), std::string::npos);
  // Special tokens (NaN activation) are marked, and the max token is outlined.
  EXPECT_NE(page.find("<i class=s title=special>"), std::string::npos);
  EXPECT_NE(page.find(" m\" title=4>.</i>"), std::string::npos);
  // Sections.
  for (const char* id : {"id=summary", "id=top", "id=bottom", "id=quantiles", "id=random-sample",
                         "id=logits", "<svg class=hist"}) {
    EXPECT_NE(page.find(id), std::string::npos) << id;
  }
  // A site without logit effects has no such section.
  const std::string resid = slurp(out / site_neuron_path("hook_resid_post", 2, 1));
  EXPECT_EQ(resid.find("id=logits"), std::string::npos);
  // The index's token table holds the joined character.
  const std::string data = slurp(out / "assets/index-data.js");
  EXPECT_NE(data.find("\"\xc3\xa9\""), std::string::npos);
  EXPECT_TRUE(valid_utf8(data));
}

TEST(SiteText, EscapesForHtmlAndScript) {
  EXPECT_EQ(visible_token_html("a<b&\"'\n\tz\r"),
            "a&lt;b&amp;&quot;&#39;\xe2\x86\xb5\n\xe2\x87\xa5\tz\xe2\x90\x8d");
  EXPECT_EQ(visible_token_text(" a\n"),
            "\xe2\x90\xa3"
            "a\xe2\x86\xb5");
  EXPECT_EQ(json_string("</script>\"\\\x01"), "\"\\u003c/script\\u003e\\\"\\\\\\u0001\"");
  EXPECT_EQ(json_string("\xff\xc3\xa9"), "\"\\ufffd\xc3\xa9\"");
  EXPECT_EQ(site_dir_name("mlp.hook_post"), "mlp.hook_post");
  EXPECT_EQ(site_dir_name("a/b c"), "a_b_c");
  PageText p;
  p.number(0.012345, 3);
  p << ' ' << int64_t{-42};
  EXPECT_EQ(p.text, "0.0123 -42");
}

TEST_F(SiteTest, ErrorsAreOneLineAndLeaveNothing) {
  const std::string out = (dir_ / "site").string();
  // A missing results file.
  Output r = run("site " + (dir_ / "missing.h5").string() + " --out " + out);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("missing.h5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  // Not an HDF5 / examples file.
  const fs::path bogus = dir_ / "bogus.h5";
  std::ofstream(bogus) << "not hdf5\n";
  r = run("site " + bogus.string() + " --out " + out);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("bogus.h5"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  // No --out, unknown option.
  r = run("site " + kFixture);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--out"), std::string::npos) << r.out;
  r = run("site " + kFixture + " --out " + out + " --bogus");
  EXPECT_NE(r.code, 0);
  // Nothing was written: neither the site nor a build directory.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) entries += e.path() != bogus;
  EXPECT_EQ(entries, 0);
  // Help.
  r = run("site --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: neurolens site"), std::string::npos);
}

TEST_F(SiteTest, RefusesToReplaceWhatIsNotASite) {
  const fs::path out = dir_ / "site";
  fs::create_directories(out);
  std::ofstream(out / "notes.txt") << "mine\n";
  Output r = run("site " + kFixture + " --out " + out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "notes.txt"));
  // A plain file is refused even with --force.
  const fs::path file = dir_ / "file";
  std::ofstream(file) << "x\n";
  r = run("site " + kFixture + " --out " + file.string() + " --force");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("not a directory"), std::string::npos) << r.out;
  // --force replaces the directory.
  r = run("site " + kFixture + " --out " + out.string() + " --force");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(fs::exists(out / "notes.txt"));
  EXPECT_TRUE(fs::exists(out / "index.html"));
  // A site is replaced without --force; an empty directory is used.
  r = run("site " + kFixture + " --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.out;
  fs::create_directories(dir_ / "empty");
  r = run("site " + kFixture + " --out " + (dir_ / "empty").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "empty/index.html"));
  // A trailing slash: the build directory is still beside the target, not inside it.
  r = run("site " + kFixture + " --out " + (dir_ / "slash").string() + "/");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "slash/index.html"));
  for (const auto& e : fs::directory_iterator(dir_ / "slash")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
  // A missing parent directory.
  r = run("site " + kFixture + " --out " + (dir_ / "no/such/site").string());
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  int left = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    left += e.path().filename().string().find(".tmp-") != std::string::npos ||
            e.path().filename().string().find(".old-") != std::string::npos;
  }
  EXPECT_EQ(left, 0);
}

}  // namespace
