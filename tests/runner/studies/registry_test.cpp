// The study registry (runner/studies/registry.hpp): names, keys and tests of every registered
// study, and docs/jobs.md documenting exactly those (every key with its default, every study's
// tests), so a new study cannot go undocumented.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "io/error.hpp"
#include "runner/studies/registry.hpp"
#include "runner/studies/study.hpp"

using namespace neurolens::runner;

namespace {

std::string jobs_md() {
  std::ifstream in(std::string(NEUROLENS_SOURCE_DIR) + "/docs/jobs.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(StudyRegistry, ListsTheStudiesInTheirFixedOrder) {
  // The order of the sections in every effective job text (hashed by the resume state, written
  // to results files): the first five studies keep theirs; new ones come after.
  std::vector<std::string> names;
  std::string joined;
  for (const StudySpec* s : registered_studies()) {
    names.push_back(s->name);
    joined += (joined.empty() ? "" : " | ") + s->name;
    EXPECT_EQ(find_study(s->name), s);
  }
  ASSERT_GE(names.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5),
            (std::vector<std::string>{"contrast", "paired", "sampling", "length", "logistic"}));
  EXPECT_EQ(study_names(), joined);
  EXPECT_EQ(find_study("nope"), nullptr);
  EXPECT_THROW(study_spec("nope"), neurolens::Error);
}

TEST(StudyRegistry, EveryStudyIsComplete) {
  for (const StudySpec* s : registered_studies()) {
    EXPECT_FALSE(s->summary.empty()) << s->name;
    ASSERT_TRUE(static_cast<bool>(s->make)) << s->name;
    EXPECT_NE(s->make(), nullptr) << s->name;
    std::set<std::string> keys;
    for (const KeySpec& k : s->keys) {
      EXPECT_TRUE(keys.insert(k.name).second) << s->name << "." << k.name << " twice";
      EXPECT_FALSE(k.help.empty()) << s->name << "." << k.name;
      EXPECT_EQ(k.name.find('.'), std::string::npos) << s->name << "." << k.name;
      if (k.type == KeyType::Integer) {
        EXPECT_LT(k.min, k.max) << s->name << "." << k.name;
      }
      if (k.type == KeyType::Choice) {
        EXPECT_FALSE(k.choices.empty()) << s->name << "." << k.name;
      }
    }
    if (!s->tests.empty()) {
      EXPECT_NE(std::find(s->tests.begin(), s->tests.end(), s->default_test), s->tests.end())
          << s->name << ": the default test must be allowed";
      EXPECT_FALSE(s->refuses_test.empty()) << s->name;
    }
  }
}

TEST(StudyRegistry, DocsJobsMdDocumentsEveryRegisteredKeyAndTest) {
  const std::string doc = jobs_md();
  ASSERT_FALSE(doc.empty()) << "docs/jobs.md not found";
  std::set<std::string> registered;
  for (const StudySpec* s : registered_studies()) {
    EXPECT_NE(doc.find("## `[" + s->name + "]`"), std::string::npos)
        << "docs/jobs.md: no section for study " << s->name;
    for (const KeySpec& k : s->keys) {
      const std::string key = s->name + "." + k.name;
      registered.insert(key);
      const std::string shown = k.default_value.empty() ? "(none)" : "`" + k.default_value + "`";
      EXPECT_NE(doc.find("| `" + key + "` | " + shown + " |"), std::string::npos)
          << "docs/jobs.md: no row '| `" << key << "` | " << shown << " | ...'";
    }
    std::string tests;
    for (TestKind t : s->tests) tests += (tests.empty() ? "`" : ", `") + test_name(t) + "`";
    const std::string row =
        s->tests.empty()
            ? "| `" + s->name + "` | (none) |"
            : "| `" + s->name + "` | `" + test_name(s->default_test) + "` | " + tests + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "docs/jobs.md: no row '" << row << "'";
  }
  // And no documented study key that is not registered.
  const std::regex row_key(R"(\n\| `([a-z_]+\.[a-z_]+)` \|)");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row_key);
       it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(registered.count((*it)[1].str()))
        << "docs/jobs.md documents " << (*it)[1].str() << ", which no study registers";
  }
}
