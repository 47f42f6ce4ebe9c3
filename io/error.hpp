// neurolens::Error — the one error type of the project.
// Owns: the context of a failure (which file, tensor, key or field), the problem, and a hint
// that tells the user how to fix it. what() is always a single line:
//   "model/config.json: n_head: 0 is not a positive integer (fix: set n_head to the number of
//   heads)"
// Example:
//   throw Error(path.string() + ": n_head", "must be positive", "set n_head in config.json");
#pragma once

#include <stdexcept>
#include <string>

namespace neurolens {

class Error : public std::runtime_error {
 public:
  Error(std::string context, std::string problem, std::string hint = {})
      : std::runtime_error(format(context, problem, hint)),
        context_(std::move(context)),
        problem_(std::move(problem)),
        hint_(std::move(hint)) {}

  const std::string& context() const noexcept { return context_; }
  const std::string& problem() const noexcept { return problem_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  static std::string one_line(std::string s) {
    for (char& c : s) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
  }
  static std::string format(const std::string& context, const std::string& problem,
                            const std::string& hint) {
    std::string out = context.empty() ? problem : context + ": " + problem;
    if (!hint.empty()) out += " (fix: " + hint + ")";
    return one_line(out);
  }

  std::string context_;
  std::string problem_;
  std::string hint_;
};

}  // namespace neurolens
