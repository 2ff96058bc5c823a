"""An event listener that records every event it receives, one JSON object per line, in the
file named by its first argument, and answers OK; with a second argument, it answers FAIL the
first time an event's payload contains that text (the event must then come back, with the same
serials). It reads its stdin as text, as supervisor.childutils' listeners do, so the envelope's
len must count characters."""
import json
import sys

record = sys.argv[1]
reject = sys.argv[2] if len(sys.argv) > 2 else None


def main():
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return
        headers = dict(x.split(":", 1) for x in line.split())
        payload = sys.stdin.read(int(headers["len"]))
        global reject
        result = "OK"
        if reject is not None and reject in payload:
            reject = None
            result = "FAIL"
        with open(record, "a") as f:
            f.write(json.dumps({"headers": headers, "payload": payload, "result": result}) + "\n")
        sys.stdout.write("RESULT %d\n%s" % (len(result), result))
        sys.stdout.flush()


main()
