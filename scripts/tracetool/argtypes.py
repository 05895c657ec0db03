"""
argtypes: the C types a trace event argument may have.

Only standard C scalar types and fixed-size integers are allowed, with
`const` and any number of `*`.  Pointers to structs and other project
types must be declared as `void *`, so that every backend (and every
reader of the trace) understands them.
"""

import re

BASE_WORDS = {
    "void", "char", "bool", "_Bool", "short", "int", "long", "signed",
    "unsigned", "float", "double",
    "int8_t", "int16_t", "int32_t", "int64_t",
    "uint8_t", "uint16_t", "uint32_t", "uint64_t",
    "size_t", "ssize_t", "off_t", "intptr_t", "uintptr_t", "ptrdiff_t",
    "pid_t", "time_t",
}
QUALIFIERS = {"const", "volatile"}


def type_problem(ctype):
    """Return None if ctype is allowed, else a sentence saying why not."""
    words = re.findall(r"[A-Za-z_]\w*|\*|\S", ctype)
    if not words:
        return "missing argument type"
    base = [w for w in words if w not in QUALIFIERS and w != "*"]
    stars = words.count("*")
    for w in base:
        if w not in BASE_WORDS:
            return (f"argument type '{ctype}' is not allowed: use standard C "
                    "types or fixed-size integers; declare pointers to "
                    "structs and other types as 'void *'")
    if not base:
        return f"argument type '{ctype}' has no base type"
    if base == ["void"] and stars == 0:
        return "'void' is only allowed as the whole argument list"
    if "void" in base and len(base) > 1:
        return f"argument type '{ctype}' is not a valid C type"
    return None


def is_string(ctype):
    """True for `const char *` / `char *` (printed with %s)."""
    words = re.findall(r"[A-Za-z_]\w*|\*", ctype)
    return [w for w in words if w not in QUALIFIERS] == ["char", "*"]


def is_floating(ctype):
    words = re.findall(r"[A-Za-z_]\w*|\*", ctype)
    return "*" not in words and ("float" in words or "double" in words)
