// neurolens site RESULTS.h5 --out DIR [--force] [--before N] [--after N]
// A static site of an examples results file (docs/examples.md, "The site"): index.html with
// every neuron (sortable, searchable) and one page per neuron, opened from file:// with no server
// and no network. Built beside DIR and moved into place when complete (site_build.hpp).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/cli/commands.hpp"
#include "runner/report/site_build.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;

int run_site(const Args& args) {
  std::string input, output;
  SiteOptions options;
  po::options_description visible(
      "usage: neurolens site RESULTS.h5 --out DIR [--force]\n"
      "  writes a static site of an examples results file (study = examples): index.html with\n"
      "  every neuron (sort by max activation or density, search the top windows' max tokens)\n"
      "  and one page per neuron (top / bottom windows painted by activation, quantile\n"
      "  examples, random sample, histogram, statistics, logit effects). Opens from file://,\n"
      "  no server, no network. DIR appears only when complete; a DIR written by an earlier\n"
      "  neurolens site (or an empty one) is replaced, anything else needs --force\n"
      "  (docs/examples.md, \"The site\")\n\noptions");
  visible.add_options()("help,h", "show this help")("out,o", po::value(&output)->value_name("DIR"),
                                                    "the site's directory")(
      "force", po::bool_switch(&options.force),
      "replace DIR even when it is a non-empty directory not written by neurolens site")(
      "before", po::value(&options.view.before)->value_name("N")->default_value(10),
      "tokens shown before a window's max token (the rest behind \"show the whole window\")")(
      "after", po::value(&options.view.after)->value_name("N")->default_value(4),
      "tokens shown after it");
  po::options_description all;
  all.add(visible).add_options()("results", po::value(&input), "results file");
  po::positional_options_description positional;
  positional.add("results", 1);
  po::variables_map vm;
  try {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    po::store(po::command_line_parser(rest).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error("site", e.what(), "run 'neurolens site --help'");
  }
  if (vm.count("help")) {
    std::cout << visible;
    return 0;
  }
  if (input.empty()) {
    throw Error("site", "no results file given", "neurolens site RESULTS.h5 --out DIR");
  }
  if (output.empty()) {
    throw Error("site", "no output directory given (--out)",
                "neurolens site " + input + " --out " + input + "-site");
  }
  if (options.view.before < 0 || options.view.after < 0) {
    throw Error("site: --before / --after", "must not be negative", "--before 10 --after 4");
  }
  const auto start = std::chrono::steady_clock::now();
  const SiteStats stats = build_site(input, output, options);
  std::fprintf(stderr, "neurolens: wrote %s: %lld neuron pages, %lld files, %.1f MB, %.2f s\n",
               output.c_str(), static_cast<long long>(stats.neurons),
               static_cast<long long>(stats.files), static_cast<double>(stats.bytes) / 1e6,
               seconds_since(start));
  return 0;
}

}  // namespace neurolens::runner
