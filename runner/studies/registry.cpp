#include "runner/studies/registry.hpp"

#include "io/error.hpp"

namespace neurolens::runner {

// The registered studies, each declared in its own runner/studies/study_<name>.cpp. Adding a
// study: one line here and one below (docs/architecture.md, "Adding a study").
const StudySpec& contrast_study_spec();
const StudySpec& paired_study_spec();
const StudySpec& sampling_study_spec();
const StudySpec& length_study_spec();
const StudySpec& logistic_study_spec();
const StudySpec& examples_study_spec();

const std::vector<const StudySpec*>& registered_studies() {
  static const std::vector<const StudySpec*> studies = {
      &contrast_study_spec(), &paired_study_spec(),   &sampling_study_spec(),
      &length_study_spec(),   &logistic_study_spec(), &examples_study_spec(),
  };
  return studies;
}

const StudySpec* find_study(const std::string& name) {
  for (const StudySpec* study : registered_studies()) {
    if (study->name == name) return study;
  }
  return nullptr;
}

const StudySpec& study_spec(const std::string& name) {
  if (const StudySpec* study = find_study(name)) return *study;
  throw Error("study", "'" + name + "' is not a registered study",
              "allowed values: " + study_names());
}

std::string study_names() {
  std::string names;
  for (const StudySpec* study : registered_studies()) {
    names += (names.empty() ? "" : " | ") + study->name;
  }
  return names;
}

std::string test_attribute(const Job& job) {
  return study_spec(job.study).tests.empty() ? std::string("none") : test_name(job.test);
}

}  // namespace neurolens::runner
