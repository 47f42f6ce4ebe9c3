// Brown word/TAG parsing: text conversion, word spans and tags, detection, tag classes.
#include "io/brown.hpp"

#include "io/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace neurolens::io {
namespace {

std::string span(const BrownText& b, size_t i) {
  return b.text.substr(b.words.at(i).begin, b.words.at(i).end - b.words.at(i).begin);
}

TEST(Brown, JoinsWordsSentencesAndParagraphs) {
  const BrownText b = parse_brown(
      "\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps left/vbd ./.\n\n\n\tNew/jj para/nn ./.\n"
      "\n\nHeadline/nn-hl \nNext/ap line/nn ./.\n",
      "x");
  EXPECT_EQ(b.text, "The jury said . It left .\n\nNew para .\n\nHeadline Next line .");
  ASSERT_EQ(b.words.size(), 14u);
  EXPECT_EQ(b.words[0], (WordTag{0, 3, "at"}));
  EXPECT_EQ(span(b, 2), "said");
  EXPECT_EQ(b.words[2].tag, "vbd");
  EXPECT_EQ(span(b, 10), "Headline");
  EXPECT_EQ(b.words[10].tag, "nn-hl");
}

TEST(Brown, TabIndentedLineStartsParagraphWithoutBlankLine) {
  const BrownText b = parse_brown("\tOne/cd ./.\n\tTwo/cd ./.\n", "x");
  EXPECT_EQ(b.text, "One .\n\nTwo .");
}

TEST(Brown, SplitsAtLastSlashAndMapsQuotes) {
  const BrownText b = parse_brown("``/`` 1/2/cd and/or/cc //in '/' ''/'' Atlanta's/np$\n", "x");
  EXPECT_EQ(b.text, "\" 1/2 and/or / ' \" Atlanta's");
  ASSERT_EQ(b.words.size(), 7u);
  EXPECT_EQ(span(b, 0), "\"");
  EXPECT_EQ(b.words[0].tag, "``");
  EXPECT_EQ(span(b, 1), "1/2");
  EXPECT_EQ(b.words[1].tag, "cd");
  EXPECT_EQ(span(b, 2), "and/or");
  EXPECT_EQ(span(b, 3), "/");
  EXPECT_EQ(b.words[3].tag, "in");
  EXPECT_EQ(span(b, 4), "'");
  EXPECT_EQ(span(b, 5), "\"");
  EXPECT_EQ(b.words[5].tag, "''");
  EXPECT_EQ(b.words[6].tag, "np$");
}

TEST(Brown, SpansIndexUtf8Bytes) {
  const BrownText b = parse_brown("caf\xC3\xA9/nn \xE2\x80\x94/-- x/nn\n", "x");
  EXPECT_EQ(span(b, 0), "caf\xC3\xA9");
  EXPECT_EQ(b.words[1].begin, 6u);
  EXPECT_EQ(b.words[1].end, 9u);
  EXPECT_EQ(span(b, 2), "x");
}

TEST(Brown, EmptyInputGivesEmptyText) {
  const BrownText b = parse_brown("\n\n  \n", "x");
  EXPECT_EQ(b.text, "");
  EXPECT_TRUE(b.words.empty());
}

TEST(Brown, TokenWithoutTagNamesFileLineAndOffset) {
  for (const char* bad : {"nothing", "/nn", "word/"}) {
    try {
      parse_brown(std::string("The/at jury/nn\nsaid/vbd ") + bad + " ./.\n", "dir/ca02", 100);
      FAIL() << "no error for " << bad;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("dir/ca02:2"), std::string::npos) << what;
      EXPECT_NE(what.find("at byte 124"), std::string::npos) << what;
      EXPECT_NE(what.find(bad), std::string::npos) << what;
      EXPECT_NE(what.find("fix:"), std::string::npos) << what;
    }
  }
}

TEST(Brown, FileNamePattern) {
  EXPECT_TRUE(is_brown_file_name("ca01"));
  EXPECT_TRUE(is_brown_file_name("cr09"));
  EXPECT_FALSE(is_brown_file_name("cs01"));
  EXPECT_FALSE(is_brown_file_name("ca1"));
  EXPECT_FALSE(is_brown_file_name("ca011"));
  EXPECT_FALSE(is_brown_file_name("README"));
  EXPECT_FALSE(is_brown_file_name("cats.txt"));
  EXPECT_FALSE(is_brown_file_name("Ca01"));
}

TEST(Brown, LineDetection) {
  EXPECT_TRUE(is_brown_line("\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` ./."));
  EXPECT_TRUE(is_brown_line("Colquitt/np-hl", 1));
  EXPECT_FALSE(is_brown_line("Colquitt/np-hl"));  // fewer than 3 tokens
  EXPECT_FALSE(is_brown_line("BROWN CORPUS"));
  EXPECT_FALSE(is_brown_line("ca01 news"));
  EXPECT_FALSE(is_brown_line("see http://a.b/c and/or d/e"));
  EXPECT_FALSE(is_brown_line("The/AT jury/NN said/VBD"));  // uppercase tags: not this format
  EXPECT_FALSE(is_brown_line(""));
  EXPECT_FALSE(is_brown_line("   ", 0));
}

TEST(Brown, TagClasses) {
  for (const char* t :
       {"np", "np$", "nps", "nps$", "np-tl", "np-hl", "np$-tl", "np+bez", "NP-TL", "nps-tl-hl"}) {
    EXPECT_TRUE(is_proper_noun_tag(t)) << t;
  }
  for (const char* t : {"nr", "nn", "nn-tl", "fw-np", "at", "npx", ""}) {
    EXPECT_FALSE(is_proper_noun_tag(t)) << t;
  }
  for (const char* t : {"nn", "nn$", "nns", "nns$", "nn-tl", "nns-hl", "nn+bez", "NN"}) {
    EXPECT_TRUE(is_noun_tag(t)) << t;
  }
  for (const char* t : {"np", "nr", "fw-nn", "vb", "nn-"}) EXPECT_FALSE(is_noun_tag(t)) << t;
  for (const char* t : {"vb", "vbd", "vbg", "vbn", "vbz", "vbn-tl", "vb+ppo", "VBD"}) {
    EXPECT_TRUE(is_verb_tag(t)) << t;
  }
  for (const char* t : {"be", "bedz", "ben", "hv", "hvd", "do", "dod", "md", "fw-vb", "nn"}) {
    EXPECT_FALSE(is_verb_tag(t)) << t;
  }
}

}  // namespace
}  // namespace neurolens::io
