#!/usr/bin/env python3
"""
test-tracetool.py: unit tests of scripts/tracetool (parser, checks and
generated code).  Run directly or through meson (`meson test tracetool`).
"""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts")
TRACETOOL = os.path.join(SCRIPTS, "tracetool.py")
SAMPLE = os.path.join(HERE, "trace-events")
sys.path.insert(0, SCRIPTS)

from tracetool import TraceError                              # noqa: E402
from tracetool.events import read_events                      # noqa: E402
from tracetool.fmtcheck import count_conversions, parse_format  # noqa: E402


def run_tool(*args):
    return subprocess.run([sys.executable, TRACETOOL, *args],
                          capture_output=True, text=True, check=False)


class TmpEvents:
    """A trace-events file with the given text, deleted afterwards."""

    def __init__(self, text):
        self.text = text

    def __enter__(self):
        fd, self.path = tempfile.mkstemp(suffix="-trace-events")
        with os.fdopen(fd, "w") as f:
            f.write(self.text)
        return self.path

    def __exit__(self, *exc):
        os.unlink(self.path)


class TestFormat(unittest.TestCase):
    def test_pri_macros(self):
        c_text, flat = parse_format('"s %p dirty count %"PRId64" x"')
        self.assertEqual(c_text, '"s %p dirty count %" PRId64 " x"')
        self.assertEqual(flat, "s %p dirty count %d x")
        self.assertEqual(count_conversions(flat), 2)

    def test_count(self):
        self.assertEqual(count_conversions("100%% done"), 0)
        self.assertEqual(count_conversions("%*d %.*s %-5lu %zu"), 6)
        self.assertEqual(count_conversions(""), 0)

    def test_bad_macro(self):
        with self.assertRaises(ValueError):
            parse_format('"x %"FOO')

    def test_n_refused(self):
        with self.assertRaises(ValueError):
            count_conversions("%n")


class TestParser(unittest.TestCase):
    def test_sample(self):
        events = read_events(SAMPLE)
        names = [e.name for e in events]
        self.assertIn("test_simple", names)
        ev = {e.name: e for e in events}
        self.assertFalse(ev["test_disabled"].enabled)
        self.assertTrue(ev["test_simple"].enabled)
        self.assertEqual(ev["test_str"].params(), "const char *s, uint64_t n")
        self.assertEqual(ev["test_pattern_a"].params(), "void")

    def assertLineError(self, text, lineno, fragment):
        with self.assertRaises(TraceError) as cm:
            read_events("x/trace-events", text)
        self.assertEqual(cm.exception.lineno, lineno, str(cm.exception))
        self.assertIn(fragment, str(cm.exception))
        self.assertTrue(str(cm.exception).startswith(f"x/trace-events:{lineno}: "))

    def test_errors(self):
        good = 'ok(int a) "a %d"\n'
        self.assertLineError(good + '# c\n\nbad(BlockDriverState *bs) "%p"\n',
                             4, "not allowed")
        self.assertLineError('e(int a, int b) "a %d"\n', 1,
                             "1 conversion(s) but the event has 2")
        self.assertLineError('e(int a "a %d"\n', 1, "malformed event line")
        self.assertLineError('bogus e(int a) "a %d"\n', 1, "unknown property")
        self.assertLineError(good + good, 2, "duplicate event 'ok'")
        self.assertLineError('e(int a) "a %" FOO\n', 1, "unknown macro")
        self.assertLineError('e(int a) "a %d\\n"\n', 1, "newline")
        self.assertLineError('e(int a) "a %n"\n', 1, "%n")
        self.assertLineError('e(int) "%d"\n', 1, "malformed argument")
        self.assertLineError('e(int a, int a) "%d %d"\n', 1, "duplicate argument")
        self.assertLineError('e(struct foo *p) "%p"\n', 1, "not allowed")
        self.assertLineError('e(int a)\n', 1, "missing format")
        self.assertLineError('e(int a) "%d" @junk\n', 1, "unexpected text")
        self.assertLineError('e(int a) junk\n', 1, "unknown macro 'junk'")
        many = ", ".join(f"int a{i}" for i in range(13))
        self.assertLineError(f'e({many}) "{"%d" * 13}"\n', 1, "too many")

    def test_types_ok(self):
        read_events("t", 'e(const char *s, unsigned long x, uint8_t *b, '
                         'unsigned int u, double d, const void *p) '
                         '"%s %lu %p %u %f %p"\n')


class TestGenerate(unittest.TestCase):
    def gen(self, fmt, *extra):
        r = run_tool(f"--format={fmt}", "--group=test", *extra, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_header_log(self):
        h = self.gen("h", "--backends=log")
        self.assertIn("static inline void trace_test_simple(int x)", h)
        self.assertIn("extern uint16_t _TRACE_TEST_SIMPLE_DSTATE;", h)
        self.assertIn("#define TRACE_TEST_SIMPLE_ENABLED 1", h)
        self.assertIn("#define TRACE_TEST_DISABLED_ENABLED 0", h)
        self.assertIn('qemu_log("%d@%lu.%06lu:test_simple " "x %d" "\\n"', h)
        self.assertIn("if (trace_event_get_state(TRACE_TEST_SIMPLE))", h)
        self.assertNotIn("DTRACE_PROBE", h)
        # a disabled event compiles to an empty function
        body = h.split("trace_test_disabled(int x)\n{\n", 1)[1]
        self.assertTrue(body.startswith("}"), body[:80])

    def test_header_dtrace(self):
        h = self.gen("h", "--backends=log,dtrace")
        self.assertIn("#include <sys/sdt.h>", h)
        self.assertIn("DTRACE_PROBE2(blockd, test_str, s, n);", h)
        self.assertIn("DTRACE_PROBE(blockd, test_pattern_a);", h)
        self.assertIn("blockd_test_simple_semaphore", h)
        self.assertNotIn("DTRACE_PROBE1(blockd, test_disabled", h)

    def test_header_nop(self):
        h = self.gen("h", "--backends=nop")
        self.assertNotIn("qemu_log(", h)
        self.assertNotIn("DTRACE", h)

    def test_c_and_register(self):
        c = self.gen("c", "--backends=dtrace", "--register")
        self.assertIn('#include "trace/trace-test.h"', c)
        self.assertIn('.name = "test_simple"', c)
        self.assertIn("trace_event_register_group(trace_test_events)", c)
        self.assertIn('section(".probes")', c)

    def test_registry(self):
        r = run_tool("--format=registry", SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("TraceEvent *const trace_events_all[] = {", r.stdout)
        self.assertIn("&_TRACE_TEST_DISABLED_EVENT,", r.stdout)

    def test_registry_duplicates_across_files(self):
        with TmpEvents('test_simple(int x) "%d"\n') as other:
            r = run_tool("--format=registry", SAMPLE, other)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{other}:1: duplicate event 'test_simple'", r.stderr)

    def test_cli_error_location(self):
        with TmpEvents('ok(int a) "%d"\nbroken(int a "%d"\n') as path:
            r = run_tool("--format=h", "--group=g", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{path}:2: malformed event line", r.stderr)

    def test_unknown_backend(self):
        r = run_tool("--format=h", "--group=g", "--backends=simple", SAMPLE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown trace backend 'simple'", r.stderr)

    def test_output_file(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "trace-test.h")
            r = run_tool("--format=h", "--group=test", "-o", out, SAMPLE)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                self.assertIn("TRACE_TEST_GENERATED_TRACERS_H", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=1)
