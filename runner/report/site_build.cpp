#include "runner/report/site_build.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "io/atomic_output.hpp"  // require_writable_directory
#include "io/error.hpp"
#include "runner/report/site_index.hpp"

namespace neurolens::runner {
namespace fs = std::filesystem;
namespace {

// The build directory: removed with everything in it unless released.
class BuildTree {
 public:
  explicit BuildTree(fs::path path) : path_(std::move(path)) {}
  BuildTree(const BuildTree&) = delete;
  BuildTree& operator=(const BuildTree&) = delete;
  ~BuildTree() {
    if (armed_) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  void release() { armed_ = false; }

 private:
  fs::path path_;
  bool armed_ = true;
};

class SiteWriter {
 public:
  explicit SiteWriter(SiteStats& stats) : stats_(stats) {}

  void directory(const std::string& path) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) {
      throw Error(path, "cannot create the directory: " + ec.message(),
                  "check free disk space and permissions of the --out directory's parent");
    }
  }

  void file(const std::string& path, std::string_view text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(path);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        fail(path);
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) fail(path);
    ++stats_.files;
    stats_.bytes += text.size();
  }

 private:
  [[noreturn]] static void fail(const std::string& path) {
    throw Error(path, std::string("cannot write: ") + std::strerror(errno),
                "check free disk space and permissions of the --out directory's parent");
  }
  SiteStats& stats_;
};

// `out` without trailing separators ("site/" -> "site"), so DIR.tmp-<pid> lands beside it.
fs::path without_trailing_slash(const fs::path& out) {
  std::string s = out.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// SIGINT / SIGTERM (Ctrl-C, a batch system's time limit) during a build: noted here, then the
// build stops between pages and unwinds, which removes DIR.tmp-<pid>.
volatile std::sig_atomic_t g_stop = 0;
extern "C" void note_stop(int) {
  g_stop = 1;
}

class StopSignals {
 public:
  StopSignals() {
    g_stop = 0;
    struct sigaction sa {};
    sa.sa_handler = note_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

bool is_empty_directory(const fs::path& dir) {
  std::error_code ec;
  return fs::directory_iterator(dir, ec) == fs::directory_iterator() && !ec;
}

}  // namespace

void check_site_target(const fs::path& target, bool force) {
  const fs::path out = without_trailing_slash(target);
  if (out.empty()) throw Error("site: --out", "needs a directory name", "--out examples-site");
  std::error_code ec;
  const fs::file_status st = fs::status(out, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      throw Error(out.string(), "exists and is not a directory",
                  "choose another --out directory or remove the file");
    }
    if (!force && !fs::exists(out / kSiteMarker) && !is_empty_directory(out)) {
      throw Error(out.string(),
                  "exists and is not a site written by neurolens site (no " +
                      std::string(kSiteMarker) + " in it)",
                  "choose a new --out directory, or pass --force to replace this one");
    }
  }
  fs::path parent = out.parent_path();
  if (parent.empty()) parent = ".";
  io::require_writable_directory(parent, "site: --out");
}

SiteStats build_site(const fs::path& results, const fs::path& target, const SiteOptions& options) {
  const fs::path out = without_trailing_slash(target);
  check_site_target(out, options.force);
  const ExamplesFile file(results.string());
  const ExamplesInfo& info = file.info();
  const std::vector<ExamplesSite>& sites = file.sites();

  // Folder names, unique even if two site names sanitize alike.
  std::vector<std::string> dirs;
  for (size_t s = 0; s < sites.size(); ++s) {
    std::string d = site_dir_name(sites[s].name);
    for (size_t t = 0; t < s; ++t) {
      if (dirs[t] == d) d += "_" + std::to_string(s);
    }
    dirs.push_back(d);
  }
  // Flat neuron numbers: site by site, layer row by row.
  std::vector<int64_t> start(sites.size() + 1, 0);
  for (size_t s = 0; s < sites.size(); ++s) {
    start[s + 1] = start[s] + static_cast<int64_t>(sites[s].layers.size()) * sites[s].width;
  }
  const int64_t total = start.back();
  if (total == 0) {
    throw Error(results.string(), "holds no neurons (no site with layers and width)",
                "run the examples study with at least one hook and layer");
  }
  const std::string root = "../../../";
  const auto href_of = [&](int64_t flat) {
    flat = ((flat % total) + total) % total;
    size_t s = 0;
    while (flat >= start[s + 1]) ++s;
    const int64_t local = flat - start[s];
    return root + site_neuron_path(dirs[s], sites[s].layers[local / sites[s].width],
                                   local % sites[s].width);
  };

  fs::path tmp = out;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }
  BuildTree guard(tmp);
  const StopSignals stop_signals;
  SiteStats stats;
  SiteWriter write(stats);
  const std::string base = tmp.string();
  write.directory(base + "/assets");

  TokenPainter painter(file);
  SiteIndex index;
  PageText page;
  page.text.reserve(1 << 20);
  std::vector<std::string> max_tokens;
  for (size_t s = 0; s < sites.size(); ++s) {
    const ExamplesSite& site = sites[s];
    for (size_t l = 0; l < site.layers.size(); ++l) {
      const std::vector<NeuronExamples> neurons = file.read_layer(s, l);
      if (static_cast<int64_t>(neurons.size()) != site.width) {
        throw Error(results.string() + ": /" + site.name,
                    "layer " + std::to_string(site.layers[l]) + " has " +
                        std::to_string(neurons.size()) + " neurons, expected " +
                        std::to_string(site.width),
                    "write the file again with neurolens run (docs/examples.md)");
      }
      const std::string dir = base + "/n/" + dirs[s] + "/" + std::to_string(site.layers[l]);
      write.directory(dir);
      for (size_t i = 0; i < neurons.size(); ++i) {
        if (g_stop) {
          throw Error(out.string(), "stopped by a signal; nothing was written",
                      "run neurolens site again");
        }
        const NeuronExamples& n = neurons[i];
        const int64_t flat =
            start[s] + static_cast<int64_t>(l) * site.width + static_cast<int64_t>(i);
        const NeuronLinks links{root, href_of(flat - 1), href_of(flat + 1), flat, total};
        page.clear();
        render_neuron_page(page, painter, info, site, n, links, options.view);
        write.file(dir + "/" + std::to_string(i) + ".html", page.text);
        max_tokens.clear();
        for (const ExampleWindow& w : n.top) {
          max_tokens.push_back(painter.token_at(w.tokens, static_cast<size_t>(w.position)));
        }
        index.add(static_cast<int64_t>(s), site.layers[l], static_cast<int64_t>(i),
                  n.max_activation, n.frac_positive, max_tokens);
        ++stats.neurons;
      }
    }
  }
  write.file(base + "/assets/index-data.js", index.data_js());
  write.file(base + "/assets/site.js", site_js(sites, dirs));
  write.file(base + "/assets/vocab.js", painter.vocab_js());
  write.file(base + "/assets/site.css", site_css());
  write.file(base + "/index.html", site_index_html(file, results.string(), dirs));
  write.file(base + "/" + kSiteMarker,
             "written by neurolens site from " + results.string() +
                 "; a new `neurolens site --out` here replaces this directory\n");

  // Swap into place: the old site (or empty directory) moves aside, then goes.
  std::error_code ec;
  if (fs::exists(out, ec)) {
    check_site_target(out, options.force);  // still what it was at the start
    fs::path old = out;
    old += ".old-" + std::to_string(::getpid());
    fs::rename(out, old, ec);
    if (ec) {
      throw Error(out.string(), "cannot move the existing directory aside: " + ec.message(),
                  "check the permissions of its parent directory");
    }
    fs::rename(tmp, out, ec);
    if (ec) {
      std::error_code back;
      fs::rename(old, out, back);
      throw Error(out.string(), "cannot move the new site into place: " + ec.message(),
                  "check the permissions of its parent directory");
    }
    guard.release();
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp, out, ec);
    if (ec) {
      throw Error(out.string(), "cannot move the new site into place: " + ec.message(),
                  "check the permissions of its parent directory");
    }
    guard.release();
  }
  return stats;
}

}  // namespace neurolens::runner
