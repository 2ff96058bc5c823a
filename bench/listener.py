"""An event listener for bench.py: `ok` answers every event at once; `stuck` says READY once
and then never reads its stdin again (a listener that has hung)."""
import sys
import time

stuck = sys.argv[1:] == ["stuck"]
out, inp = sys.stdout, sys.stdin
while True:
    out.write("READY\n")
    out.flush()
    if stuck:
        while True:
            time.sleep(3600)
    headers = dict(x.split(":", 1) for x in inp.readline().split())
    inp.read(int(headers["len"]))
    out.write("RESULT 2\nOK")
    out.flush()
