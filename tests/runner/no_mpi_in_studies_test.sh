#!/usr/bin/env bash
# No study, engine or subcommand sees <mpi.h>: only runner/parallel/*.cpp, runner/cli/main.cpp and
# io/ may include it (docs/architecture.md, "Adding a study"). Preprocesses every runner/studies/*.cpp,
# runner/engine/*.cpp and runner/cli/*.cpp (but main.cpp) with its flags from
# compile_commands.json (-M lists every header included) and fails naming the file when mpi.h is
# among them.
# Usage: no_mpi_in_studies_test.sh <build dir> <source dir>
set -euo pipefail
build=$1
source=$2
exec /usr/bin/python3 - "$build/compile_commands.json" "$source" <<'PY'
import json, os, re, shlex, subprocess, sys

commands, source = sys.argv[1], os.path.realpath(sys.argv[2])
checked = ("runner/studies/", "runner/engine/", "runner/cli/")
allowed = {"runner/cli/main.cpp"}
failed, count = [], 0
for entry in json.load(open(commands)):
    rel = os.path.relpath(os.path.realpath(entry["file"]), source)
    if not rel.startswith(checked) or rel in allowed or not rel.endswith(".cpp"):
        continue
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c" and a != entry["file"]:
            kept.append(a)
    result = subprocess.run(kept + ["-M", entry["file"]], cwd=entry["directory"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{rel}: preprocessing failed:\n{result.stderr}")
        failed.append(rel)
        continue
    count += 1
    headers = result.stdout.replace("\\\n", " ").split()
    mpi = [h for h in headers if re.search(r"(^|/)mpi\.h$", h)]
    if mpi:
        print(f"{rel} includes {mpi[0]} (through a header it includes; keep MPI in runner/parallel/*.cpp and io/)")
        failed.append(rel)
if count == 0:
    print("no runner/studies, runner/engine or runner/cli sources in " + commands)
    sys.exit(1)
print(f"{count} sources checked, {len(failed)} see <mpi.h>")
sys.exit(1 if failed else 0)
PY
