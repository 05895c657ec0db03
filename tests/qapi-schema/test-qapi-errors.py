#!/usr/bin/env python3
"""
test-qapi-errors.py: negative tests of the QAPI schema compiler.

Runs scripts/qapi-gen.py --check-only on every bad-*.json next to this
script and compares its stderr with bad-*.err (the schema path is
printed relative to this directory).  Also checks that the good test
schema and the real schema compile.  Exit status 0 when all match.
"""

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GEN = os.path.join(ROOT, 'scripts', 'qapi-gen.py')


def run(schema):
    return subprocess.run([sys.executable, GEN, '--check-only', schema],
                          cwd=HERE, capture_output=True, text=True)


def main():
    failures = 0
    bad = sorted(glob.glob(os.path.join(HERE, 'bad-*.json')))
    if not bad:
        print('no bad-*.json found')
        return 1
    for path in bad:
        name = os.path.basename(path)
        res = run(name)
        with open(path[:-5] + '.err', encoding='utf-8') as f:
            expected = f.read()
        if res.returncode == 0 or res.stderr != expected:
            failures += 1
            print('FAIL %s (exit %d)\n  expected: %r\n  got:      %r'
                  % (name, res.returncode, expected, res.stderr))
        else:
            print('ok   %s' % name)
    for good in ('qapi-schema-test.json',
                 os.path.join(ROOT, 'qapi', 'qapi-schema.json')):
        res = run(good)
        if res.returncode != 0 or res.stderr:
            failures += 1
            print('FAIL %s: %s' % (good, res.stderr))
        else:
            print('ok   %s' % os.path.basename(good))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
