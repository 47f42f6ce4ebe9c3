#include "runner/engine/job.hpp"

#include <algorithm>
#include <charconv>

#include "io/error.hpp"
#include "io/text.hpp"

namespace neurolens::runner {

std::string test_name(TestKind kind) {
  switch (kind) {
    case TestKind::Welch:
      return "welch";
    case TestKind::Student:
      return "student";
    case TestKind::Paired:
      return "paired";
    case TestKind::Logistic:
      return "logistic";
  }
  return "?";
}

const std::string& StudyOptions::text(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) {
    throw Error("job: " + key, "is not a key of any registered study",
                "declare it in the study's StudySpec (runner/studies/registry.hpp)");
  }
  return it->second;
}

// The values were checked when the job was parsed (registry KeyType), so these only convert.
int StudyOptions::integer(const std::string& key) const {
  const std::string& s = text(key);
  int value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    throw Error("job: " + key, "'" + s + "' is not a number", "give a whole number");
  }
  return value;
}

bool StudyOptions::boolean(const std::string& key) const {
  std::string s = text(key);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s == "true" || s == "yes" || s == "on" || s == "1";
}

std::vector<std::string> StudyOptions::words(const std::string& key) const {
  return split(text(key), ',');
}

}  // namespace neurolens::runner
