#!/usr/bin/env python3
# run-all.py: the single entry point of `make check`.
#
# Runs (a) the GTest unit programs through `meson test` and (b) the functional
# tests through tests/qemu-iotests/check, prints one result block per suite
# and, as its very last line, "N passed, N failed, N skipped" summed over both
# suites.  Exit status 1 if anything failed (including a suite that could not
# run at all), 0 otherwise.
#
#   run-all.py --build DIR [--unit-only | --iotests-only] [--slow]
#              [-g GROUP] [-j N] [--check-args "..."] [--meson-args "..."]
#              [NNN ...] [unit-test-name ...]
#
# Positional arguments that look like iotest numbers (001, 001-005) select
# iotests; any other positional argument is passed to `meson test` as a test
# name.

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
CHECK = os.path.join(TESTS_DIR, 'qemu-iotests', 'check')

# Upper bounds so that `make check` can never hang.
UNIT_SUITE_TIMEOUT = 1800
IOTESTS_SUITE_TIMEOUT = 3600


class SuiteResult:
    def __init__(self, name, passed=0, failed=0, skipped=0, note=''):
        self.name = name
        self.passed = passed
        self.failed = failed
        self.skipped = skipped
        self.note = note

    def line(self):
        text = '%-8s %d passed, %d failed, %d skipped' % (
            self.name + ':', self.passed, self.failed, self.skipped)
        return text + ('  (%s)' % self.note if self.note else '')


def run_streaming(argv, timeout, env=None):
    """Run argv in its own process group, echoing its output; return
    (exit status, whole output).  Kills the group on timeout."""
    print('+ ' + ' '.join(shlex.quote(a) for a in argv))
    sys.stdout.flush()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, cwd=REPO_DIR)
    chunks = []

    def pump():
        for raw in iter(proc.stdout.readline, b''):
            text = raw.decode('utf-8', 'replace')
            chunks.append(text)
            sys.stdout.write(text)
            sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
        rc = None
    except KeyboardInterrupt:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    reader.join(10)
    return rc, ''.join(chunks)


def parse_meson_summary(output):
    """Counts from meson test's summary block ("Ok: N", "Fail: N", ...)."""
    counts = {}
    for key in ('Ok', 'Expected Fail', 'Fail', 'Unexpected Pass', 'Skipped',
                'Timeout'):
        m = re.search(r'^%s:\s+(\d+)\s*$' % re.escape(key), output, re.M)
        if m:
            counts[key] = int(m.group(1))
    return counts


def run_unit(args, names):
    build = args.build
    if not os.path.exists(os.path.join(build, 'build.ninja')):
        return SuiteResult('unit', failed=1,
                           note='no meson build in %s' % build)
    # Build with at most -j2 first: `meson test` would rebuild with ninja's
    # default parallelism.
    # -k 0: build whatever can be built, so that one broken target does not
    # hide the results of every unit test; the broken build counts as one
    # failure.
    build_failed = False
    if not args.no_build:
        rc, _ = run_streaming(['ninja', '-C', build, '-j', str(args.jobs),
                               '-k', '0'], UNIT_SUITE_TIMEOUT)
        build_failed = rc != 0
    # meson test refuses to run anything if one test program is missing
    # (its target failed to build): run the others by name and count each
    # missing one as a failure.
    missing = []
    if build_failed:
        tests = introspect_tests(build)
        missing = [t['name'] for t in tests
                   if t['cmd'] and os.path.isabs(t['cmd'][0])
                   and not os.path.exists(t['cmd'][0])
                   and (not names or t['name'] in names)]
        if missing:
            names = [t['name'] for t in tests
                     if t['name'] not in missing and
                     (not names or t['name'] in names)]
            print('not built, counted as failed: %s' % ' '.join(missing))
    if missing and not names:
        res = SuiteResult('unit')
    else:
        argv = ['meson', 'test', '-C', build, '--no-rebuild',
                '--num-processes', str(args.jobs), '--print-errorlogs']
        argv += shlex.split(args.meson_args) + names
        rc, out = run_streaming(argv, UNIT_SUITE_TIMEOUT)
        res = unit_result(rc, out)
    if build_failed:
        res.failed += len(missing) or 1
        res.note = ', '.join(n for n in ('build failed', res.note) if n)
    return res


def introspect_tests(build):
    try:
        out = subprocess.run(['meson', 'introspect', '--tests', build],
                             stdout=subprocess.PIPE, timeout=120,
                             check=True).stdout
        return json.loads(out)
    except (subprocess.SubprocessError, ValueError, OSError):
        return []


def unit_result(rc, out):
    if rc is None:
        return SuiteResult('unit', failed=1, note='meson test timed out')
    counts = parse_meson_summary(out)
    if not counts:
        if 'No tests defined' in out and rc == 0:
            return SuiteResult('unit', note='no unit tests defined')
        return SuiteResult('unit', failed=1,
                           note='meson test exited %d without a summary' % rc)
    res = SuiteResult('unit',
                      passed=counts.get('Ok', 0) + counts.get('Expected Fail', 0),
                      failed=(counts.get('Fail', 0) +
                              counts.get('Unexpected Pass', 0) +
                              counts.get('Timeout', 0)),
                      skipped=counts.get('Skipped', 0))
    if rc != 0 and res.failed == 0:
        res.failed = 1
        res.note = 'meson test exited %d' % rc
    return res


def run_iotests(args, selection):
    argv = [sys.executable, CHECK, '-j', str(args.jobs), '--build', args.build]
    if selection:
        argv += selection
    groups = list(args.groups)
    if not selection and not groups:
        groups = ['quick,slow'] if args.slow else ['quick']
    for g in groups:
        argv += ['-g', g]
    argv += shlex.split(args.check_args)
    env = dict(os.environ)
    if args.binary:
        env['BLOCKD'] = os.path.abspath(args.binary)
    rc, out = run_streaming(argv, IOTESTS_SUITE_TIMEOUT, env)
    if rc is None:
        return SuiteResult('iotests', failed=1, note='check timed out')
    m = None
    for m in re.finditer(r'^iotests: (\d+) passed, (\d+) failed, '
                         r'(\d+) skipped$', out, re.M):
        pass
    if not m:
        return SuiteResult('iotests', failed=1,
                           note='check exited %s without a summary' % rc)
    res = SuiteResult('iotests', int(m.group(1)), int(m.group(2)),
                      int(m.group(3)))
    if rc != 0 and res.failed == 0:
        res.failed = 1
        res.note = 'check exited %d' % rc
    return res


def main():
    ap = argparse.ArgumentParser(description='Run every blockd test suite.')
    ap.add_argument('--build', default='build', help='meson build directory')
    ap.add_argument('--unit-only', action='store_true')
    ap.add_argument('--iotests-only', action='store_true')
    ap.add_argument('--slow', action='store_true',
                    help="also run the iotests of group 'slow'")
    ap.add_argument('-g', '--group', dest='groups', action='append',
                    default=[], help='iotests groups to run (instead of quick)')
    ap.add_argument('-j', '--jobs', type=int, default=2)
    ap.add_argument('--binary', help='daemon under test (default BUILD/blockd '
                    'or $BLOCKD)')
    ap.add_argument('--no-build', action='store_true',
                    help='do not run ninja before the unit tests')
    ap.add_argument('--check-args', default='',
                    help='extra arguments for tests/qemu-iotests/check')
    ap.add_argument('--meson-args', default='',
                    help='extra arguments for meson test')
    ap.add_argument('tests', nargs='*',
                    help='iotests (NNN, NNN-MMM) and/or unit test names')
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.unit_only and args.iotests_only:
        ap.error('--unit-only and --iotests-only exclude each other')

    iotest_sel = [t for t in args.tests if re.fullmatch(r'\d+(-\d+)?', t)]
    unit_sel = [t for t in args.tests if t not in iotest_sel]
    run_unit_suite = not args.iotests_only and (unit_sel or not iotest_sel)
    run_io_suite = not args.unit_only and (iotest_sel or not unit_sel)

    results = []
    try:
        if run_unit_suite:
            print('=== unit tests ===')
            results.append(run_unit(args, unit_sel))
        if run_io_suite:
            print('=== iotests ===')
            results.append(run_iotests(args, iotest_sel))
    except KeyboardInterrupt:
        print('interrupted')
        print('0 passed, 1 failed')
        return 1

    print('=== summary ===')
    for r in results:
        print(r.line())
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    if skipped:
        print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    else:
        print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
