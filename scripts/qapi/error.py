"""
error.py: errors of the QAPI schema compiler.

Every error carries the source location (file:line[:col]) of the schema text
that caused it, so a bad schema is reported like a compiler error.
"""


class QAPIError(Exception):
    """A user error in a schema, reported with its location."""

    def __init__(self, info, msg, col=None):
        super().__init__(msg)
        self.info = info
        self.msg = msg
        self.col = col

    def __str__(self):
        if self.info is None:
            return self.msg
        loc = str(self.info)
        if self.col is not None:
            loc += ':%d' % self.col
        ctx = self.info.context()
        return '%s: %s%s' % (loc, ctx, self.msg)


class QAPISourceInfo:
    """Where an expression was read from: file, line and the entity defined."""

    def __init__(self, fname, line, parent=None):
        self.fname = fname
        self.line = line
        self.parent = parent        # the including file's info
        self.defn_meta = None
        self.defn_name = None

    def at(self, line):
        info = QAPISourceInfo(self.fname, line, self.parent)
        return info

    def set_defn(self, meta, name):
        self.defn_meta = meta
        self.defn_name = name

    def context(self):
        if self.defn_meta and self.defn_name:
            return "%s '%s': " % (self.defn_meta, self.defn_name)
        return ''

    def __str__(self):
        return '%s:%d' % (self.fname, self.line)
