"""
parser.py: reader for QAPI schema files.

The schema dialect is JSON with single-quoted strings, no numbers or null,
and '#' comments running to the end of the line ('##' doc blocks are
comments too).  Each file is a sequence of top-level objects; the directive
{ 'include': 'FILE' } reads another file (relative to the including one,
each file at most once) and { 'pragma': {...} } is accepted and ignored.

QAPISchemaParser(fname).exprs is a list of (expr, info) pairs, expr being
an ordered dict and info the QAPISourceInfo of its opening brace.
"""

import os

from .error import QAPIError, QAPISourceInfo


class QAPIParseError(QAPIError):
    pass


class QAPISchemaParser:

    def __init__(self, fname, included=None, parent_info=None):
        self.fname = fname
        self.included = included if included is not None else set()
        self.included.add(os.path.abspath(fname))
        self.exprs = []
        try:
            with open(fname, encoding='utf-8') as f:
                self.src = f.read()
        except OSError as e:
            raise QAPIError(parent_info, "can't read schema file '%s': %s"
                            % (fname, e.strerror))
        self.info = QAPISourceInfo(fname, 1, parent_info)
        self.pos = 0
        self.line = 1
        self.line_pos = 0
        self.tok = None
        self.val = None
        self.tok_line = 1
        self.tok_col = 1
        self._parse_file()

    # ---- lexer ----
    def _error(self, msg):
        """Report msg at the start of the current token."""
        raise QAPIParseError(self.info.at(self.tok_line), msg, self.tok_col)

    def _accept(self):
        """Read the next token into self.tok (and self.val)."""
        src = self.src
        while True:
            if self.pos >= len(src):
                self.tok = None
                return
            ch = src[self.pos]
            if ch == '\n':
                self.pos += 1
                self.line += 1
                self.line_pos = self.pos
                continue
            if ch in ' \t\r':
                self.pos += 1
                continue
            if ch == '#':
                end = src.find('\n', self.pos)
                self.pos = len(src) if end < 0 else end
                continue
            break
        self.tok_line = self.line
        self.tok_col = self.pos - self.line_pos + 1
        if ch in '{}[],:':
            self.tok = ch
            self.pos += 1
            return
        if ch == "'":
            self.pos += 1
            out = []
            while True:
                if self.pos >= len(src) or src[self.pos] == '\n':
                    self._error('missing terminating "\'"')
                c = src[self.pos]
                self.pos += 1
                if c == "'":
                    break
                if c == '\\':
                    if self.pos >= len(src):
                        self._error('missing terminating "\'"')
                    esc = src[self.pos]
                    self.pos += 1
                    if esc not in '\\/\'"':
                        self._error("unknown escape \\%s" % esc)
                    c = esc
                elif not (' ' <= c <= '~'):
                    self._error('funny character in string')
                out.append(c)
            self.tok = "'"
            self.val = ''.join(out)
            return
        for word, value in (('true', True), ('false', False)):
            if src.startswith(word, self.pos):
                self.pos += len(word)
                self.tok = 'b'
                self.val = value
                return
        self._error("stray '%s'" % ch)

    # ---- grammar ----
    def _parse_object(self):
        expr = {}
        self._accept()
        if self.tok == '}':
            self._accept()
            return expr
        while True:
            if self.tok != "'":
                self._error('expected string or "}"')
            key = self.val
            if key in expr:
                self._error("duplicate key '%s'" % key)
            self._accept()
            if self.tok != ':':
                self._error('expected ":"')
            self._accept()
            expr[key] = self._parse_value()
            if self.tok == '}':
                self._accept()
                return expr
            if self.tok != ',':
                self._error('expected "," or "}"')
            self._accept()
            if self.tok != "'":
                self._error('expected string')

    def _parse_array(self):
        arr = []
        self._accept()
        if self.tok == ']':
            self._accept()
            return arr
        while True:
            arr.append(self._parse_value())
            if self.tok == ']':
                self._accept()
                return arr
            if self.tok != ',':
                self._error('expected "," or "]"')
            self._accept()

    def _parse_value(self):
        if self.tok == '{':
            return self._parse_object()
        if self.tok == '[':
            return self._parse_array()
        if self.tok in ("'", 'b'):
            val = self.val
            self._accept()
            return val
        if self.tok is None:
            self._error('unexpected end of file')
        self._error('expected "{", "[", string or boolean')

    def _parse_file(self):
        self._accept()
        while self.tok is not None:
            if self.tok != '{':
                self._error('expected "{" to start a definition')
            info = self.info.at(self.tok_line)
            expr = self._parse_object()
            if 'include' in expr:
                self._include(expr, info)
            elif 'pragma' in expr:
                if len(expr) != 1 or not isinstance(expr['pragma'], dict):
                    raise QAPIError(info, "invalid 'pragma' directive")
            else:
                self.exprs.append((expr, info))

    def _include(self, expr, info):
        if len(expr) != 1 or not isinstance(expr['include'], str):
            raise QAPIError(info, "invalid 'include' directive")
        path = os.path.join(os.path.dirname(self.fname), expr['include'])
        if os.path.abspath(path) in self.included:
            return
        sub = QAPISchemaParser(path, self.included, info)
        self.exprs.extend(sub.exprs)
