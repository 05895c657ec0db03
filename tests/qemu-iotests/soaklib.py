# soaklib.py: helpers shared by the soak tests (group slow, 200-209): the
# seeded random generator (IOTESTS_SEED, printed on stderr so that a failing
# run can be repeated), a fio load with verification through an NBD export,
# and the checks made after each cycle (qemu-img compare / check).
#
# Soak tests print only stable summaries on stdout: what the random choices
# were goes to stderr (kept in NNN.err when a test fails).

import os
import random
import sys
import threading

import iotests
import mirrorlib

MiB = 1024 * 1024


def rng(default_seed):
    """The test's random generator; the seed is printed on stderr."""
    seed = int(os.environ.get('IOTESTS_SEED', str(default_seed)))
    note('seed %d (IOTESTS_SEED=%d repeats this run)' % (seed, seed))
    return random.Random(seed)


def note(msg):
    """A line for the log of the run (stderr), not for the golden output."""
    print(msg, file=sys.stderr)
    sys.stderr.flush()


def fio(uri, *extra, timeout=300):
    """Run fio's nbd engine against uri; (ok, one-line summary)."""
    rc, jobs, out = mirrorlib.fio_jobs(uri, *extra, timeout=timeout)
    if jobs is None:
        return False, 'fio failed (exit %d): %s' % (rc, out[-2000:])
    errors = sorted(set(j['error'] for j in jobs))
    ok = rc == 0 and errors == [0]
    return ok, 'fio exit %d, errors %s%s' % (rc, errors,
                                            '' if ok else ': ' + out[-2000:])


class Load(threading.Thread):
    """fio in a thread: start(), join(), then .ok and .result."""

    def __init__(self, uri, *args):
        # A daemon thread: a test that fails does not wait for fio.
        super().__init__(daemon=True)
        self.uri = uri
        self.args = args
        self.ok = False
        self.result = None

    def run(self):
        try:
            self.ok, self.result = fio(self.uri, *self.args)
        except Exception as e:          # reported by the test, not lost
            self.ok, self.result = False, 'fio: %s' % e


def compare(a, fa, b, fb):
    """(identical, qemu-img compare's first line)."""
    rc, out = iotests.qemu_img_rc('compare', '-f', fa, '-F', fb, a, b)
    first = out.strip().splitlines()[0] if out.strip() else ''
    return rc == 0, first


def check(path):
    """(no errors, qemu-img check's output) for a qcow2 image."""
    rc, out = iotests.qemu_img_rc('check', '-f', 'qcow2', path)
    return rc == 0, out.strip()


class Failures:
    """Collects what went wrong; the golden output shows only the count
    per kind, the details go to stderr."""

    def __init__(self):
        self.items = []

    def add(self, what, detail):
        self.items.append(what)
        note('FAILED: %s: %s' % (what, detail))

    def summary(self):
        return 'failures: %s' % (sorted(set(self.items)) or 'none')
