"""What Supervisor 4.3 makes of a config file, for tests/tests/supervisor_compat.rs.

Runs Supervisor's own loader, `ServerOptions().realize(['-c', FILE])` (no daemon is started),
and prints one JSON object: {"accepted": bool, "error": str, "processes": [[group:name, argv]],
"warnings": [str]}, where argv is the command as Supervisor would split it at spawn
(shlex.split), or null when it cannot be split.
"""
import contextlib, io, json, shlex, sys

from supervisor.options import ServerOptions

out = {"accepted": False, "error": "", "processes": [], "warnings": []}
captured = io.StringIO()
try:
    # Supervisor keeps the stderr it finds when created: create it inside the redirection.
    with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
        options = ServerOptions()
        options.stderr = captured  # a class attribute bound at import time
        options.realize(["-c", sys.argv[1]])
    out["accepted"] = True
    for group in options.process_group_configs:
        for process in group.process_configs:
            try:
                argv = shlex.split(process.command)
            except ValueError:
                argv = None
            out["processes"].append([group.name + ":" + process.name, argv])
    out["warnings"] = list(options.parse_warnings)
except SystemExit:
    lines = captured.getvalue().strip().splitlines()
    out["error"] = lines[0] if lines else "refused"
print(json.dumps(out))
