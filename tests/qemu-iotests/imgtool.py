# imgtool.py: helpers of the blockd-img tests (120-139): running
# build/tools/blockd-img and the real qemu-img side by side with their
# outputs normalised (program name, scratch paths), so a test can print
# blockd-img's output once and state whether qemu-img said the same.

import json
import os
import re

import iotests
from iotests import log

# IMGTOOL_BINARY=/usr/bin/qemu-img runs a test with qemu-img in the place
# of blockd-img: that is how the golden outputs of tests that compare the
# two were made (the expected output is qemu-img's own).
BLOCKD_IMG = os.environ.get('IMGTOOL_BINARY',
                            os.path.join(iotests.BUILD_DIR, 'tools',
                                         'blockd-img'))


def require_blockd_img():
    if not (os.path.isfile(BLOCKD_IMG) and os.access(BLOCKD_IMG, os.X_OK)):
        raise RuntimeError('blockd-img not built: %s' % BLOCKD_IMG)
    return BLOCKD_IMG


def normalise(text):
    """Same text for both tools: program names and the scratch directory."""
    for prog in ('blockd-img', 'qemu-img'):
        text = text.replace(prog + ': ', 'IMG: ')
        text = text.replace("Try '%s --help'" % prog, "Try 'IMG --help'")
    text = re.sub(r'#block\d+', '#blockN', text)    # generated node names
    return text.replace(iotests.TEST_DIR, 'TEST_DIR')


def run(*args, timeout=120):
    """blockd-img ARGS: (exit status, normalised stdout+stderr)."""
    rc, out = iotests.run_tool([require_blockd_img()] + list(args), timeout)
    return rc, normalise(out)


def run_qemu(*args, timeout=120):
    """qemu-img ARGS: (exit status, normalised stdout+stderr)."""
    rc, out = iotests.run_tool([iotests.require_tool('qemu-img')] + list(args),
                               timeout)
    return rc, normalise(out)


def check(*args):
    """Run blockd-img; raise if it fails; return its output."""
    rc, out = run(*args)
    if rc != 0:
        raise RuntimeError('blockd-img %s failed (%d):\n%s'
                           % (' '.join(args), rc, out))
    return out


def info_json(path, fmt=None, tool='blockd-img', chain=False):
    args = ['info', '--output=json'] + (['-f', fmt] if fmt else []) + \
           (['--backing-chain'] if chain else []) + [path]
    rc, out = run(*args) if tool == 'blockd-img' else run_qemu(*args)
    if rc != 0:
        raise RuntimeError('%s info failed (%d):\n%s' % (tool, rc, out))
    return json.loads(out)


def side_by_side(*args, label=None, show=True, qemu_args=None):
    """
    Run blockd-img and qemu-img with the same arguments (qemu_args for
    qemu-img if given); log blockd-img's exit status and output, then
    whether qemu-img agreed (or its exit status and output when not).
    Returns True when both agreed.
    """
    rc, out = run(*args)
    qrc, qout = run_qemu(*(qemu_args or args))
    log('--- %s' % (label or ' '.join(a.replace(iotests.TEST_DIR, 'TEST_DIR')
                                      for a in args)))
    if show:
        log(out.rstrip('\n') if out.strip() else '(no output)')
    log('exit %d' % rc)
    if rc == qrc and out == qout:
        log('qemu-img: same')
        return True
    log('qemu-img: DIFFERENT (exit %d)' % qrc)
    log(qout.rstrip('\n'))
    return False


def compare_keys(a, b, ignore=(), path=''):
    """The keys whose values differ between two JSON values (recursively)."""
    diffs = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignore:
                continue
            p = path + '.' + k if path else k
            if k not in a:
                diffs.append('%s: missing in blockd-img' % p)
            elif k not in b:
                diffs.append('%s: missing in qemu-img' % p)
            else:
                diffs += compare_keys(a[k], b[k], ignore, p)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diffs += compare_keys(x, y, ignore, '%s[%d]' % (path, i))
    elif a != b:
        diffs.append('%s: %r != %r' % (path, a, b))
    return diffs


def du_kib(path):
    """Allocated KiB of a file (what du reports)."""
    return os.stat(path).st_blocks // 2
