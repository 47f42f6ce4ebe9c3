#include "runner/report/site_index.hpp"

#include <cmath>

#include "runner/report/report_svg.hpp"  // html_escape
#include "runner/report/site_page.hpp"   // activation_css

namespace neurolens::runner {
namespace {

// The script of every page. Index: rows of window.NL_INDEX filtered by the search box (a row
// matches when one of its max tokens contains the query, case-insensitively), sorted by a
// column, 100 per page; the state lives in the URL hash. Neuron pages: the random link and
// keys (left / right arrow: previous / next, r: random). Sets <html data-js="ready"> when done.
constexpr const char* kScript = R"JS(
(function () {
  "use strict";
  var body = document.body;
  var root = body.getAttribute("data-root") || "";
  var sites = window.NL_SITES || [];
  function pathOf(s, layer, neuron) {
    return root + "n/" + sites[s].dir + "/" + layer + "/" + neuron + ".html";
  }
  function total() {
    var t = 0;
    for (var s = 0; s < sites.length; s++) t += sites[s].layers.length * sites[s].width;
    return t;
  }
  function flatPath(f) {
    for (var s = 0; s < sites.length; s++) {
      var n = sites[s].layers.length * sites[s].width;
      if (f < n) return pathOf(s, sites[s].layers[Math.floor(f / sites[s].width)], f % sites[s].width);
      f -= n;
    }
    return root + "index.html";
  }
  function randomPath() { return flatPath(Math.floor(Math.random() * total())); }

  function neuronPage() {
    var random = document.getElementById("random");
    if (random && total() > 0) {
      random.href = randomPath();
      random.addEventListener("click", function () { random.href = randomPath(); });
    }
    // The collapsed parts of the windows, painted when their checkbox is first checked.
    var page = window.NL_PAGE || {windows: []}, vocab = window.NL_VOCAB || [];
    function level(a) {
      if (a === null) return "s";
      if (a > 0 && page.max > 0) {
        var p = Math.min(10, Math.floor(a * 10 / page.max + 0.5));
        return p ? "p" + p : "";
      }
      if (a < 0 && page.min > 0) {
        var n = Math.min(10, Math.floor(-a * 10 / page.min + 0.5));
        return n ? "n" + n : "";
      }
      return "";
    }
    function tokenHtml(t) {
      var text = typeof t === "number" ? vocab[t] : t;
      return esc(text == null ? "" : text).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "\ufffd")
          .replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u21e5\t").replace(/\r/g, "\u240d");
    }
    function paint(ids, values) {
      var html = "";
      for (var i = 0; i < ids.length; i++) {
        var c = level(values[i]);
        html += "<i" + (c ? " class=" + c : "") + " title=" +
                (values[i] === null ? "special" : values[i]) + ">" + tokenHtml(ids[i]) + "</i>";
      }
      return html;
    }
    function fill(input) {
      if (input.getAttribute("data-filled")) return;
      input.setAttribute("data-filled", "1");
      var d = page.windows[+input.id.slice(1)];
      if (!d) return;
      var w = input.parentNode, before = w.querySelector(".b"), after = w.querySelector(".a");
      if (before) before.innerHTML = paint(d[0], d[1]);
      if (after) after.innerHTML = paint(d[2], d[3]);
    }
    document.addEventListener("change", function (e) {
      var t = e.target;
      if (t && t.matches && t.matches(".w input")) fill(t);
    });
    if (location.hash === "#expand") {
      var boxes = document.querySelectorAll(".w input");
      for (var i = 0; i < boxes.length; i++) {
        boxes[i].checked = true;
        fill(boxes[i]);
      }
    }
    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey || (e.target && e.target.tagName === "INPUT")) return;
      var id = e.key === "ArrowLeft" ? "prev" : e.key === "ArrowRight" ? "next" :
               e.key === "r" ? "random" : "";
      var a = id && document.getElementById(id);
      if (a) location.href = a.href;
    });
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c];
    });
  }
  function visible(s) {
    return s.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5")
            .replace(/\r/g, "\u240d");
  }
  function num(v) {
    if (v === null) return "NaN";
    return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2)
                                                                  : String(+v.toPrecision(4));
  }

  function indexPage() {
    var data = window.NL_INDEX || {tokens: [], rows: []};
    var rows = data.rows, tokens = data.tokens;
    var lower = tokens.map(function (t) { return t.toLowerCase(); });
    var PAGE = 100;
    var state = {sort: "", dir: "desc", q: "", page: 0};
    var box = document.getElementById("q"), tbody = document.getElementById("rows");
    var count = document.getElementById("count"), pager = document.getElementById("pager");
    var cache = {key: null, order: null};

    function readHash() {
      var p = new URLSearchParams(location.hash.replace(/^#/, ""));
      var sort = p.get("sort") || "";
      state.sort = sort === "max" || sort === "density" ? sort : "";
      state.dir = p.get("dir") === "asc" ? "asc" : "desc";
      state.q = p.get("q") || "";
      state.page = Math.max(0, (parseInt(p.get("page") || "1", 10) || 1) - 1);
    }
    function writeHash() {
      var p = new URLSearchParams();
      if (state.sort) p.set("sort", state.sort);
      if (state.sort && state.dir === "asc") p.set("dir", "asc");
      if (state.q) p.set("q", state.q);
      if (state.page) p.set("page", String(state.page + 1));
      var h = p.toString();
      var url = h ? "#" + h : location.pathname + location.search;
      try {
        history.replaceState(null, "", url);
      } catch (err) {
        location.replace("#" + h);
      }
    }
    function order() {
      var key = state.sort + "|" + state.dir + "|" + state.q;
      if (cache.key === key) return cache.order;
      var idx = [], r, j;
      if (state.q) {
        var q = state.q.toLowerCase(), hit = new Uint8Array(tokens.length);
        for (j = 0; j < lower.length; j++) hit[j] = lower[j].indexOf(q) >= 0 ? 1 : 0;
        for (r = 0; r < rows.length; r++) {
          var t = rows[r][5];
          for (j = 0; j < t.length; j++) {
            if (hit[t[j]]) { idx.push(r); break; }
          }
        }
      } else {
        for (r = 0; r < rows.length; r++) idx.push(r);
      }
      if (state.sort) {
        var c = state.sort === "max" ? 3 : 4, sign = state.dir === "asc" ? 1 : -1;
        var val = function (v) { return v === null ? -Infinity : v; };
        idx.sort(function (a, b) {
          var d = val(rows[a][c]) - val(rows[b][c]);
          return (d > 0 ? sign : d < 0 ? -sign : 0) || a - b;
        });
      }
      cache.key = key;
      cache.order = idx;
      return idx;
    }
    function render() {
      var idx = order();
      var pages = Math.max(1, Math.ceil(idx.length / PAGE));
      if (state.page >= pages) state.page = pages - 1;
      var html = [], end = Math.min(idx.length, (state.page + 1) * PAGE);
      for (var i = state.page * PAGE; i < end; i++) {
        var r = rows[idx[i]], site = sites[r[0]];
        var top = r[5].length ? visible(tokens[r[5][0]]) : "";
        html.push("<tr data-key=\"" + r[0] + ":" + r[1] + ":" + r[2] + "\"><td>" + esc(site.name) +
                  "</td><td class=num>" + r[1] + "</td><td class=num><a href=\"" +
                  esc(pathOf(r[0], r[1], r[2])) + "\">" + r[2] + "</a></td><td class=num>" +
                  num(r[3]) + "</td><td class=num>" + num(r[4]) + "</td><td><code class=tok>" +
                  esc(top) + "</code></td></tr>");
      }
      tbody.innerHTML = html.join("");
      count.textContent = idx.length + " of " + rows.length + " neurons";
      pager.innerHTML = "<button id=first>\u00ab</button> <button id=back>\u2039</button> page " +
                        (state.page + 1) + " of " + pages +
                        " <button id=forward>\u203a</button> <button id=last>\u00bb</button>";
      var go = function (id, page) {
        document.getElementById(id).onclick = function () {
          state.page = Math.min(pages - 1, Math.max(0, page));
          writeHash();
          render();
        };
      };
      go("first", 0);
      go("back", state.page - 1);
      go("forward", state.page + 1);
      go("last", pages - 1);
      var heads = document.querySelectorAll("th[data-sort]");
      for (var h = 0; h < heads.length; h++) {
        var k = heads[h].getAttribute("data-sort");
        heads[h].setAttribute("aria-sort", k === state.sort || (k === "" && !state.sort)
            ? (state.sort && state.dir === "desc" ? "descending" : "ascending") : "none");
      }
      body.setAttribute("data-shown", String(idx.length));
      body.setAttribute("data-sort", state.sort + (state.sort ? ":" + state.dir : ""));
    }
    readHash();
    box.value = state.q;
    box.addEventListener("input", function () {
      state.q = box.value;
      state.page = 0;
      writeHash();
      render();
    });
    var heads = document.querySelectorAll("th[data-sort]");
    for (var h = 0; h < heads.length; h++) {
      heads[h].addEventListener("click", function (e) {
        var k = e.currentTarget.getAttribute("data-sort");
        if (k && state.sort === k) {
          state.dir = state.dir === "desc" ? "asc" : "desc";
        } else {
          state.sort = k;
          state.dir = "desc";
        }
        state.page = 0;
        writeHash();
        render();
      });
    }
    window.addEventListener("hashchange", function () {
      readHash();
      box.value = state.q;
      render();
    });
    render();
  }

  if (body.classList.contains("index")) indexPage(); else neuronPage();
  document.documentElement.setAttribute("data-js", "ready");
})();
)JS";

constexpr const char* kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;
padding:0 16px 40px;color:#222;background:#fff}
h1{font-size:22px;margin:14px 0}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:14px 0 6px}small{color:#666;font-weight:normal}
nav{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #eee;z-index:2}
nav a{margin-right:14px}nav .pos{color:#666}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}
.kv th{font-weight:normal;color:#555}.num{text-align:right;font-variant-numeric:tabular-nums}
.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
#neurons{width:100%}#neurons thead th{border-bottom:2px solid #ccc;white-space:nowrap}
#neurons th[data-sort]{cursor:pointer;color:#1f5fa8}
#neurons th[aria-sort=descending]::after{content:" \25BE"}
#neurons th[aria-sort=ascending][data-sort=max]::after,
#neurons th[aria-sort=ascending][data-sort=density]::after{content:" \25B4"}
#neurons tbody tr:nth-child(even){background:#f6f7f9}
.controls{margin:12px 0;display:flex;gap:16px;align-items:center}
#q{font-size:15px;padding:4px 8px;width:340px}#pager{margin:10px 0}
code.tok{background:#f1f1f1;padding:0 3px;border-radius:3px;white-space:pre}
ol.wins{padding-left:34px;margin:4px 0}
ol.wins li{margin:3px 0;display:flex;gap:10px;align-items:baseline}
ol.wins b.v{min-width:56px;text-align:right;font-weight:600;font-variant-numeric:tabular-nums}
.w{font:13px/1.7 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
overflow-wrap:anywhere;flex:1}
.w i{font-style:normal;border-radius:2px}
.w i.m{outline:2px solid #111;outline-offset:0}
.w i.s{color:#999}
.w i:empty{display:inline-block;width:4px;height:1.1em;vertical-align:text-bottom}
.w input{display:none}
.w label{cursor:pointer;color:#1f5fa8;margin-right:6px;font-family:system-ui,sans-serif}
.w label::before{content:"\229E"}
.w input:checked+label::before{content:"\229F"}
.w input:not(:checked)~.x{display:none}
.w input:checked~.e{display:none}
.w .e{color:#999}
svg.hist rect{fill:#d62728}svg.hist .ax{stroke:#333}svg.hist .zero{stroke:#999;stroke-dasharray:3 3}
svg.hist text{font-size:11px;fill:#333}
.logit caption{text-align:left;font-weight:600}
.note{color:#666}footer{margin-top:30px;color:#888;font-size:12px}
)CSS";

}  // namespace

std::string site_dir_name(std::string_view site) {
  std::string out(site);
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "site" + out;
  return out;
}

std::string site_neuron_path(std::string_view site_dir, int64_t layer, int64_t neuron) {
  PageText p;
  p << "n/" << site_dir << '/' << layer << '/' << neuron << ".html";
  return std::move(p.text);
}

void SiteIndex::add(int64_t site, int64_t layer, int64_t neuron, float max_activation,
                    double density, const std::vector<std::string>& max_tokens) {
  PageText& r = rows_js_;
  r << (rows_ == 0 ? "\n[" : ",\n[") << site << ',' << layer << ',' << neuron << ',';
  if (std::isfinite(max_activation)) {
    r.number(max_activation, 5);
  } else {
    r << "null";
  }
  r << ',';
  if (std::isfinite(density)) {
    r.number(density, 4);
  } else {
    r << "null";
  }
  r << ",[";
  std::vector<int64_t> seen;
  for (const std::string& t : max_tokens) {
    auto [it, inserted] = token_ids_.try_emplace(t, static_cast<int64_t>(tokens_.size()));
    if (inserted) tokens_.push_back(t);
    bool repeat = false;
    for (int64_t s : seen) repeat = repeat || s == it->second;
    if (repeat) continue;
    r << (seen.empty() ? "" : ",") << it->second;
    seen.push_back(it->second);
  }
  r << "]]";
  ++rows_;
}

std::string SiteIndex::data_js() const {
  PageText out;
  out << "window.NL_INDEX = {\"tokens\": [";
  for (size_t i = 0; i < tokens_.size(); ++i) {
    out << (i ? "," : "") << (i % 16 == 0 ? "\n" : "") << json_string(tokens_[i]);
  }
  out << "],\n\"rows\": [" << rows_js_.text << "]};\n";
  return std::move(out.text);
}

std::string site_js(const std::vector<ExamplesSite>& sites,
                    const std::vector<std::string>& site_dirs) {
  PageText out;
  out << "// neurolens site: the sites of this build, then the code of every page.\n"
         "window.NL_SITES = [";
  for (size_t s = 0; s < sites.size(); ++s) {
    out << (s ? ",\n  " : "\n  ") << "{\"name\": " << json_string(sites[s].name)
        << ", \"dir\": " << json_string(site_dirs[s]) << ", \"width\": " << sites[s].width
        << ", \"layers\": [";
    for (size_t l = 0; l < sites[s].layers.size(); ++l) out << (l ? "," : "") << sites[s].layers[l];
    out << "]}";
  }
  out << "];\n" << kScript;
  return std::move(out.text);
}

std::string site_css() {
  return std::string(kStyle) + activation_css();
}

std::string site_index_html(const ExamplesFile& file, const std::string& results_path,
                            const std::vector<std::string>& site_dirs) {
  const ExamplesInfo& info = file.info();
  PageText p;
  p << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << html_escape(info.model.empty() ? results_path : info.model)
    << " \xc2\xb7 neurolens site</title>\n<link rel=\"stylesheet\" href=\"assets/site.css\">"
       "<script src=\"assets/index-data.js\" defer></script>"
       "<script src=\"assets/site.js\" defer></script></head>\n"
       "<body class=index data-root=\"\">\n<h1>Dataset examples</h1>\n<table class=kv>";
  const auto row = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) p << "<tr><th>" << key << "</th><td>" << html_escape(value) << "</td></tr>";
  };
  row("results", results_path);
  row("model", info.model + (info.model_type.empty() ? "" : " (" + info.model_type + ")"));
  row("tokenizer", info.tokenizer);
  std::string sites;
  int64_t neurons = 0;
  for (const ExamplesSite& s : file.sites()) {
    sites += (sites.empty() ? "" : "; ") + s.name + ": " + std::to_string(s.layers.size()) +
             " layers \xc3\x97 " + std::to_string(s.width);
    neurons += static_cast<int64_t>(s.layers.size()) * s.width;
  }
  row("sites", sites);
  row("neurons", std::to_string(neurons));
  row("windows", std::to_string(info.n_windows) + " of " + std::to_string(info.seq_len) +
                     " tokens (" + std::to_string(info.n_tokens) + " measured tokens)");
  row("per neuron", "top " + std::to_string(info.top_k) + ", bottom " +
                        std::to_string(info.bottom_k) + ", " + std::to_string(info.per_quantile) +
                        " per quantile bucket, random sample " +
                        std::to_string(info.random_sample) + ", " + std::to_string(info.bins) +
                        " histogram bins");
  p << "</table>\n<div class=controls><input id=q type=search autocomplete=off "
       "placeholder=\"search the max tokens of the top windows\" aria-label=\"search tokens\">"
       "<span id=count></span></div>\n"
       "<table id=neurons><thead><tr><th data-sort=\"\">site</th><th data-sort=\"\">layer</th>"
       "<th>neuron</th><th data-sort=max>max activation</th><th data-sort=density>density "
       "<small>(frac_positive)</small></th><th>top token</th></tr></thead>"
       "<tbody id=rows></tbody></table>\n<div id=pager></div>\n"
       "<noscript><p>The table needs JavaScript; every layer's first neuron:</p><ul>";
  for (size_t s = 0; s < file.sites().size(); ++s) {
    const ExamplesSite& site = file.sites()[s];
    if (site.width == 0) continue;
    for (int64_t layer : site.layers) {
      p << "<li><a href=\"" << html_escape(site_neuron_path(site_dirs[s], layer, 0)) << "\">"
        << html_escape(site.name) << " layer " << layer << "</a></li>";
    }
  }
  p << "</ul></noscript>\n<footer>neurolens site \xc2\xb7 index.html#sort=max, #sort=density, "
       "&amp;dir=asc, #q=TEXT, &amp;page=N</footer>\n</body></html>\n";
  return std::move(p.text);
}

}  // namespace neurolens::runner
