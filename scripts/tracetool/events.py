"""
events: read trace-events files.

Line syntax (docs/devel/tracing.rst):
    [disable] name(type arg, type arg) "printf format"
`#` starts a comment line; blank lines are ignored.  Every problem is
raised as TraceError with the file and line number.
"""

import re

from tracetool import TraceError
from tracetool.argtypes import type_problem
from tracetool.fmtcheck import FormatError, count_conversions, parse_format

KNOWN_PROPS = {"disable"}
MAX_ARGS = 12       # what <sys/sdt.h> probes can carry

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if",
    "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "_Bool", "bool",
}

_LINE = re.compile(r"^(?P<props>(?:[a-z_]+\s+)*)"
                   r"(?P<name>[A-Za-z_]\w*)\s*"
                   r"\((?P<args>[^()]*)\)\s*"
                   r"(?P<fmt>.*)$")
_ARG = re.compile(r"^(?P<type>.*?)(?P<name>[A-Za-z_]\w*)$")


class Arg:
    def __init__(self, ctype, name):
        self.type = ctype
        self.name = name

    def decl(self):
        sep = "" if self.type.endswith("*") else " "
        return f"{self.type}{sep}{self.name}"


class Event:
    def __init__(self, name, props, args, fmt_c, filename, lineno):
        self.name = name
        self.props = props
        self.args = args
        self.fmt = fmt_c
        self.filename = filename
        self.lineno = lineno

    @property
    def enabled(self):
        """Compiled in (not marked `disable`)."""
        return "disable" not in self.props

    @property
    def upper(self):
        return self.name.upper()

    def params(self):
        """C parameter list of trace_<name>()."""
        if not self.args:
            return "void"
        return ", ".join(a.decl() for a in self.args)

    def arg_names(self):
        return [a.name for a in self.args]


def _normalize_type(t):
    t = " ".join(t.split())
    t = re.sub(r"\s*\*\s*", " *", t)       # "char*" / "char *" -> "char *"
    t = t.replace("* *", "**")
    return t.strip()


def parse_args(text, where):
    text = text.strip()
    if text in ("", "void"):
        return []
    args = []
    seen = set()
    for raw in text.split(","):
        raw = raw.strip()
        m = _ARG.match(raw)
        if not raw or not m or not m.group("type").strip():
            where(f"malformed argument '{raw}' (expected 'type name')")
        ctype = _normalize_type(m.group("type"))
        name = m.group("name")
        problem = type_problem(ctype)
        if problem:
            where(problem)
        if name in C_KEYWORDS:
            where(f"argument name '{name}' is a C keyword")
        if name.startswith("_"):
            where(f"argument name '{name}' must not start with '_'")
        if name in seen:
            where(f"duplicate argument name '{name}'")
        seen.add(name)
        args.append(Arg(ctype, name))
    if len(args) > MAX_ARGS:
        where(f"too many arguments ({len(args)}, at most {MAX_ARGS})")
    return args


def parse_line(line, filename, lineno):
    """Parse one non-comment line into an Event."""
    def where(msg):
        raise TraceError(filename, lineno, msg)

    m = _LINE.match(line.strip())
    if not m:
        where("malformed event line (expected: "
              "[disable] name(type arg, ...) \"format\")")
    props = m.group("props").split()
    for p in props:
        if p not in KNOWN_PROPS:
            where(f"unknown property '{p}' (known: {', '.join(sorted(KNOWN_PROPS))})")
    name = m.group("name")
    if name in C_KEYWORDS:
        where(f"event name '{name}' is a C keyword")
    args = parse_args(m.group("args"), where)
    try:
        fmt_c, flat = parse_format(m.group("fmt"))
        if "\n" in flat:
            where("format must not contain a newline (the backend adds it)")
        nconv = count_conversions(flat)
    except FormatError as e:
        where(str(e))
    if nconv != len(args):
        where(f"format has {nconv} conversion(s) but the event has "
              f"{len(args)} argument(s)")
    return Event(name, props, args, fmt_c, filename, lineno)


def read_events(filename, text=None):
    """All events of one trace-events file, checking for duplicates."""
    if text is None:
        with open(filename, encoding="utf-8") as f:
            text = f.read()
    events = []
    seen = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        ev = parse_line(stripped, filename, lineno)
        if ev.name in seen:
            raise TraceError(filename, lineno,
                             f"duplicate event '{ev.name}' "
                             f"(first defined at line {seen[ev.name]})")
        seen[ev.name] = lineno
        events.append(ev)
    return events


def check_unique(events):
    """Event names must be unique across all files of a binary."""
    seen = {}
    for ev in events:
        if ev.name in seen:
            first = seen[ev.name]
            raise TraceError(ev.filename, ev.lineno,
                             f"duplicate event '{ev.name}' (first defined at "
                             f"{first.filename}:{first.lineno})")
        seen[ev.name] = ev
