// Regex — a small backtracking regular-expression engine for the patterns of tokenizer.json
// (Split pre-tokenizers, Replace normalizers), with the semantics of Oniguruma as Hugging Face
// tokenizers runs it: leftmost match, alternatives tried in order, greedy quantifiers that
// backtrack, atomic lookaheads.
// Owns: parsing a pattern into a program and running it over UTF-8 text. Supported: literals,
// `.` (not \n), `|`, groups ( ) (?: ) (?<name> ), inline flags (?i: ) (?-i: ) (?i), character
// classes with ranges and negation, \p{..} / \P{..} General_Category names (L Lu Ll Lt Lm Lo M
// Mn Mc Me N Nd Nl No P.. S.. Z.. C.., long names like Letter), \s \S (White_Space) \d \D (Nd)
// \w \W (L M Nd Pc) \h \H, escapes \r \n \t \f \v \a \e \0 \xHH \x{H..} \uHHHH, anchors ^ $
// (line) \A \z \Z \b \B, quantifiers ? * + {n} {n,} {n,m} {,m} (greedy, or lazy with ?),
// lookaheads (?= ) (?! ). Case-insensitive matching uses simple case folding. Anything else
// (lookbehind, backreferences, possessive quantifiers, scripts, class set operations) is
// refused at compile time with an Error naming the construct and its offset.
// Example:
//   Regex re = Regex::compile(R"(\p{N}{1,3}|\s+(?!\S))");
//   re.find_all("12345  x", [](size_t b, size_t e) { ... });  // [0,3) [3,5) [5,6)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace neurolens::model {

class Regex {
 public:
  // Throws neurolens::Error("regex", "<what> at offset N of the pattern") when the pattern is
  // malformed or uses a construct the engine does not run.
  static Regex compile(std::string_view pattern);
  // A pattern that matches `literal` exactly (no metacharacters).
  static Regex literal(std::string_view literal);

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  // Leftmost match at or after byte `from` (a character boundary of valid UTF-8 `text`).
  // Throws neurolens::Error if the match needs more than 10^7 + 100 per byte of text
  // backtracking steps.
  bool search(std::string_view text, size_t from, size_t* begin, size_t* end) const;

  // Every match left to right, as Oniguruma's find_iter in HF tokenizers: after a match the
  // search goes on at its end; an empty match right where the previous match ended is skipped.
  void find_all(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

  const std::string& pattern() const;

 private:
  struct Program;
  explicit Regex(std::unique_ptr<Program> p);
  std::unique_ptr<Program> program_;
};

}  // namespace neurolens::model
