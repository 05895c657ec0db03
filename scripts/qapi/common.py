"""
common.py: naming and text helpers shared by all QAPI back ends.

c_name() turns a schema name into a C identifier, c_enum_const() builds the
ENUM_TYPE_VALUE constant names, and the ifcond helpers turn schema 'if'
conditions into C preprocessor expressions.
"""

import re

C_KEYWORDS = frozenset('''
auto break case char const continue default do double else enum extern
float for goto if int long register return short signed sizeof static
struct switch typedef union unsigned void volatile while
inline restrict _Bool _Complex _Imaginary
_Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local
asm typeof
bool true false
unix errno mips sparc i386 linux
'''.split())


def c_name(name, protect=True):
    """The C identifier for a schema name: '-' and '.' become '_'."""
    name = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if protect and (name in C_KEYWORDS or name[:1].isdigit()):
        return 'q_' + name
    return name


def camel_to_upper(value):
    """'MirrorSyncMode' -> 'MIRROR_SYNC_MODE' (QEMU's spelling rule)."""
    s = c_name(value, False)
    if value.isupper():
        return s
    out = []
    for i, ch in enumerate(s):
        if ch.isupper() and i > 0 and s[i - 1] != '_':
            nxt_lower = i + 1 < len(s) and s[i + 1].islower()
            if nxt_lower or s[i - 1].isdigit():
                out.append('_')
        out.append(ch)
    return ''.join(out).lstrip('_').upper()


def c_enum_const(type_name, value, prefix=None):
    if prefix is None:
        prefix = camel_to_upper(type_name)
    return prefix + '_' + c_name(value, False).upper()


def ifcond_to_c(cond):
    """Schema condition -> C expression (None when unconditional)."""
    if cond is None:
        return None
    if isinstance(cond, str):
        return 'defined(%s)' % cond
    if 'not' in cond:
        return '!' + _ifcond_paren(cond['not'])
    op = ' && ' if 'all' in cond else ' || '
    parts = [_ifcond_paren(c) for c in (cond.get('all') or cond.get('any'))]
    return '(' + op.join(parts) + ')'


def _ifcond_paren(cond):
    text = ifcond_to_c(cond)
    return text


def gen_if(cond):
    c = ifcond_to_c(cond)
    return '#if %s\n' % c if c else ''


def gen_endif(cond):
    c = ifcond_to_c(cond)
    return '#endif /* %s */\n' % c if c else ''


def wrap_if(cond, text):
    """Surround generated text with #if/#endif when cond is set."""
    if not cond or not text:
        return text
    return gen_if(cond) + text + gen_endif(cond)


def indent(text, level=1):
    pad = '    ' * level
    return ''.join(pad + line if line.strip() else line
                   for line in text.splitlines(True))
