#include "runner/engine/job.hpp"

namespace neurolens::runner {

std::string study_name(StudyKind kind) {
  switch (kind) {
    case StudyKind::Contrast:
      return "contrast";
    case StudyKind::Paired:
      return "paired";
    case StudyKind::Sampling:
      return "sampling";
    case StudyKind::Length:
      return "length";
    case StudyKind::Logistic:
      return "logistic";
  }
  return "?";
}

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

}  // namespace neurolens::runner
