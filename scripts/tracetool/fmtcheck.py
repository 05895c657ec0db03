"""
fmtcheck: parse the format part of a trace-events line.

A format is a sequence of C string literals and PRI* macros, e.g.
    "s %p dirty count %"PRId64" synced %d"
parse_format() checks the tokens and returns the text to paste into C;
count_conversions() counts the printf conversions so that the generator
can compare them with the number of arguments.
"""

import re

_TOKEN = re.compile(r'\s*(?:(?P<lit>"(?:[^"\\]|\\.)*")|(?P<macro>[A-Za-z_]\w*))')
_PRI = re.compile(r"^PRI[diouxX](?:8|16|32|64|PTR|MAX|LEAST(?:8|16|32|64)|"
                  r"FAST(?:8|16|32|64))$")
_CONV = re.compile(r"%(?P<flags>[-+ #0']*)(?P<width>\*|\d+)?"
                   r"(?:\.(?P<prec>\*|\d*))?"
                   r"(?P<len>hh|h|ll|l|j|z|t|L|q)?(?P<conv>.?)")
_VALID_CONV = set("diouxXeEfFgGaAcsp")


class FormatError(ValueError):
    pass


def parse_format(text):
    """Return (c_text, flat) for a format: the C source to paste in and
    the concatenated string with PRI macros expanded to their conversion
    letter.  Raise FormatError on anything that is not literals/macros."""
    pos = 0
    pieces = []
    flat = []
    text = text.rstrip()
    if not text:
        raise FormatError("missing format string (use \"\" for none)")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FormatError(f"unexpected text in format: {text[pos:].strip()!r}")
        if m.group("lit") is not None:
            lit = m.group("lit")
            pieces.append(lit)
            flat.append(_unescape(lit[1:-1]))
        else:
            macro = m.group("macro")
            if not _PRI.match(macro):
                raise FormatError(f"unknown macro '{macro}' in format "
                                  "(only PRI* macros such as PRId64 are allowed)")
            pieces.append(macro)
            flat.append(macro[3])
        pos = m.end()
    if not pieces[0].startswith('"'):
        raise FormatError("format must start with a string literal")
    return " ".join(pieces), "".join(flat)


def _unescape(body):
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def count_conversions(flat):
    """Number of arguments consumed by the printf format flat."""
    count = 0
    pos = 0
    while True:
        i = flat.find("%", pos)
        if i < 0:
            return count
        m = _CONV.match(flat, i)
        conv = m.group("conv")
        if conv == "%" and m.end() - i == 2:
            pos = m.end()
            continue
        if conv == "n":
            raise FormatError("'%n' is not allowed in trace formats")
        if conv not in _VALID_CONV:
            raise FormatError(f"bad conversion '{flat[i:m.end()]}' in format")
        count += 1
        if m.group("width") == "*":
            count += 1
        if m.group("prec") == "*":
            count += 1
        pos = m.end()
