"""An event listener for the tests: records every event it receives, one JSON object per line,
in the file named by its first argument, and answers OK. It reads its stdin as text, as
supervisor.childutils' listeners do, so the envelope's len must count characters.

  --reject TEXT   answer FAIL the first time a payload contains TEXT (the event must come back
                  with the same serials)
  --reject-each-once
                  answer FAIL the first time each event (by serial) comes, OK the second
  --die TEXT      exit without answering the first time a payload contains TEXT (across
                  restarts: FILE.died marks it done); the event must go to another listener
  --garbage MB    instead of the protocol, write MB mebibytes of junk, then wait for stdin to close
  --childutils    speak the protocol through supervisor.childutils (Supervisor's own helpers,
                  which read the payload as text), not by hand
"""
import argparse
import json
import os
import sys
import time

args = argparse.ArgumentParser()
args.add_argument("record")
args.add_argument("--reject")
args.add_argument("--die")
args.add_argument("--reject-each-once", action="store_true")
args.add_argument("--garbage", type=int)
args.add_argument("--childutils", action="store_true")
opts = args.parse_args()


def garbage(mb):
    junk = "x" * (1 << 20)
    for _ in range(mb):
        sys.stdout.write(junk)
    sys.stdout.flush()
    with open(opts.record + ".garbage-done", "w"):
        pass
    sys.stdin.read()


def main():
    reject = opts.reject
    seen = set()
    while True:
        if opts.childutils:
            from supervisor import childutils

            headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        else:
            sys.stdout.write("READY\n")
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                return
            headers = dict(x.split(":", 1) for x in line.split())
            payload = sys.stdin.read(int(headers["len"]))
        received = time.time()
        marker = opts.record + ".died"
        if opts.die is not None and opts.die in payload and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(headers["serial"])
            os._exit(3)
        result = "OK"
        if reject is not None and reject in payload:
            reject = None
            result = "FAIL"
        if opts.reject_each_once and headers["serial"] not in seen:
            seen.add(headers["serial"])
            result = "FAIL"
        with open(opts.record, "a") as f:
            record = {
                "headers": headers,
                "payload": payload,
                "result": result,
                "pid": os.getpid(),
                "received": received,
            }
            f.write(json.dumps(record) + "\n")
        sys.stdout.write("RESULT %d\n%s" % (len(result), result))
        sys.stdout.flush()


if opts.garbage is not None:
    garbage(opts.garbage)
else:
    main()
