"""
tracetool: turns trace-events files into C tracing code for blockd.

The package is split by concern:
  events.py     parse a trace-events file into Event objects (with checks)
  argtypes.py   which C argument types an event may use
  fmtcheck.py   check a printf format against the argument list
  backends.py   per-backend C snippets (log, dtrace, nop)
  generate.py   the three output formats: h, c and registry
The command line lives in scripts/tracetool.py.
"""


class TraceError(Exception):
    """A malformed trace-events line, reported as FILE:LINE: message."""

    def __init__(self, filename, lineno, msg):
        self.filename = filename
        self.lineno = lineno
        self.msg = msg
        super().__init__(f"{filename}:{lineno}: {msg}")
