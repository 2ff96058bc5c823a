"""What Supervisor 4.3 makes of a config file, for tests/tests/supervisor_compat.rs.

Runs Supervisor's own loader, `ServerOptions().realize(['-c', FILE])` (no daemon is started),
and prints one JSON object: {"accepted": bool, "error": str, "processes": [[group:name, argv,
settings]], "warnings": [str]}, where argv is the command as Supervisor would split it at spawn
(shlex.split), or null when it cannot be split, and settings what the process runs with (the
umask and directory it gets from supervisord when it has none of its own).
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
            restart = process.autorestart
            settings = {
                "autostart": bool(process.autostart),
                "autorestart": "false" if restart is False else restart.__name__,
                "startsecs": process.startsecs,
                "startretries": process.startretries,
                "exitcodes": sorted(process.exitcodes),
                "stopsignal": int(process.stopsignal),
                "stopwaitsecs": process.stopwaitsecs,
                "stopasgroup": bool(process.stopasgroup),
                "killasgroup": bool(process.killasgroup),
                "priority": process.priority,
                # supervisord sets its umask and directory only when it daemonizes.
                "umask": process.umask if process.umask is not None
                else (None if options.nodaemon else options.umask),
                "directory": process.directory
                or (None if options.nodaemon else options.directory),
                "stdout_maxbytes": process.stdout_logfile_maxbytes,
                "stdout_backups": process.stdout_logfile_backups,
                "redirect_stderr": bool(process.redirect_stderr),
            }
            out["processes"].append([group.name + ":" + process.name, argv, settings])
    out["warnings"] = list(options.parse_warnings)
except SystemExit:
    lines = captured.getvalue().strip().splitlines()
    out["error"] = lines[0] if lines else "refused"
print(json.dumps(out))
