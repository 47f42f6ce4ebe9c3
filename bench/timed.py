#!/usr/bin/python3
"""timed.py LOG CMD... — runs CMD with stdout+stderr to LOG; prints "WALL CPU" in seconds, CPU =
user + system time of CMD and all its waited-for descendants (mpirun's ranks included). On a
shared, oversubscribed machine CPU time is the load-robust measure of a single-threaded run."""
import resource
import subprocess
import sys
import time

r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.perf_counter()
with open(sys.argv[1], "w") as log:
    rc = subprocess.run(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT).returncode
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.3f} {r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime:.3f}")
sys.exit(rc)
