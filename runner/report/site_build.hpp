// SiteBuild — `neurolens site`: an examples results file (docs/examples.md) written as a static
// site that opens from file:// (no server, no network): index.html, assets/, and one page per
// neuron under n/<site>/<layer>/<neuron>.html.
// Owns: the target check (made before reading), the build into DIR.tmp-<pid> beside DIR (removed
// on any failure or SIGINT / SIGTERM, so DIR is never partial; only SIGKILL leaves it behind),
// the swap into place, and the order of the work:
// every layer read once (ExamplesFile::read_layer), its pages written from one reused buffer.
// A directory written by `neurolens site` holds the marker file `.neurolens-site` and is replaced
// by a new build; an empty directory is used; any other existing path is refused unless `force`
// (then a directory is replaced; a file is always refused).
// Example:
//   SiteStats s = build_site("examples.h5", "examples-site", {});
//   std::printf("%lld pages\n", static_cast<long long>(s.neurons));
#pragma once

#include <cstdint>
#include <filesystem>

#include "runner/report/site_page.hpp"

namespace neurolens::runner {

struct SiteOptions {
  bool force = false;  // replace an existing directory that is not a site
  WindowView view;     // tokens shown around the max before "show the whole window"
};

struct SiteStats {
  int64_t neurons = 0;  // neuron pages
  int64_t files = 0;    // all files written
  uint64_t bytes = 0;   // their total size
};

// The marker file of a site directory.
inline constexpr const char* kSiteMarker = ".neurolens-site";

// Throws neurolens::Error (naming `out`, with a fix) when the site cannot be written there.
void check_site_target(const std::filesystem::path& out, bool force);

SiteStats build_site(const std::filesystem::path& results, const std::filesystem::path& out,
                     const SiteOptions& options);

}  // namespace neurolens::runner
