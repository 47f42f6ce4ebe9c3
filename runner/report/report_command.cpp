// neurolens report RESULTS.h5 --out report.html [--overwrite]
// One self-contained HTML page (inline CSS and SVG, no JavaScript, no network) for a results
// file: volcano plot, significant neurons per layer, per-layer distributions, top neurons, and
// the study's own pictures (histograms, top tokens and contexts, text heatmaps). Written
// atomically: the page appears only when complete. docs/report.md.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "io/atomic_output.hpp"
#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/cli/commands.hpp"
#include "runner/report/report_html.hpp"
#include "runner/results/reader.hpp"

namespace neurolens::runner {
namespace {

const char* kUsage =
    "usage: neurolens report RESULTS.h5 --out REPORT.html [--overwrite]\n"
    "  writes one self-contained HTML page (inline SVG and CSS, no JavaScript, no network)\n"
    "  with the pictures of the study in RESULTS.h5 (docs/report.md)\n";

}  // namespace

int run_report(const Args& args) {
  std::string input, output;
  bool overwrite = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--out" || a == "-o") {
      if (i + 1 >= args.size())
        throw Error("report: --out", "needs a file name", "--out report.html");
      output = args[++i];
    } else if (a.rfind("--out=", 0) == 0) {
      output = a.substr(6);
    } else if (a == "--overwrite") {
      overwrite = true;
    } else if (a.rfind("--", 0) == 0) {
      throw Error("report", "unknown option '" + a + "'", "neurolens report --help");
    } else if (input.empty()) {
      input = a;
    } else {
      throw Error("report", "more than one results file given",
                  "neurolens report RESULTS.h5 --out report.html");
    }
  }
  if (input.empty()) {
    throw Error("report", "no results file given", "neurolens report RESULTS.h5 --out report.html");
  }
  if (output.empty()) {
    throw Error("report", "no output file given (--out)",
                "neurolens report " + input + " --out report.html");
  }
  const auto start = std::chrono::steady_clock::now();
  // Check the target before reading (a long read must not end in 'file exists').
  io::AtomicOutput out(output, overwrite);
  const Results results = read_results(input);
  const std::string page = render_report(results);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    f.write(page.data(), static_cast<std::streamsize>(page.size()));
    f.close();
    if (!f) {
      throw Error(out.temp_path().string(), "could not write the report",
                  "check free disk space and permissions of the output directory");
    }
  }
  out.commit();
  const double seconds = seconds_since(start);
  std::fprintf(stderr, "neurolens: wrote %s (%.1f kB, %.2f s)\n", output.c_str(),
               static_cast<double>(page.size()) / 1e3, seconds);
  return 0;
}

}  // namespace neurolens::runner
