# iotests.py: the library every functional test (tests/qemu-iotests/NNN) imports.
#
# It starts the daemon under test (blockd, or the real qemu-storage-daemon for
# comparison) with QMP monitors on unix sockets, speaks QMP to it (greeting,
# negotiation, commands, an event queue), prints JSON in a stable form for the
# golden .out files, runs the qemu-img / qemu-io / nbdinfo tools, and makes sure
# every process it started is gone when the test ends, however it ends.
#
# Environment (set by ./check; sensible defaults when a test is run by hand):
#   BLOCKD     daemon binary under test (default <repo>/build/blockd)
#   BUILD_DIR  meson build directory (default <repo>/build)
#   TEST_DIR   fresh scratch directory of this test
#   SOCK_DIR   short directory for unix sockets
#   QSD        qemu-storage-daemon used by differential tests
#              (default /usr/bin/qemu-storage-daemon)

import atexit
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Replies may nest as deep as QMP allows (1024 levels): let json parse them.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

SRC_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(os.path.dirname(SRC_DIR))

BUILD_DIR = os.environ.get('BUILD_DIR', os.path.join(REPO_DIR, 'build'))
BLOCKD = os.environ.get('BLOCKD', os.path.join(BUILD_DIR, 'blockd'))
QSD = os.environ.get('QSD', '/usr/bin/qemu-storage-daemon')


def _scratch_dir(var, prefix):
    path = os.environ.get(var)
    if path:
        os.makedirs(path, exist_ok=True)
        return path
    # Run by hand: make our own and remove it at exit.
    path = tempfile.mkdtemp(prefix=prefix, dir='/tmp')
    atexit.register(shutil.rmtree, path, True)
    os.environ[var] = path
    return path


TEST_DIR = _scratch_dir('TEST_DIR', 'iotests-test-')
SOCK_DIR = _scratch_dir('SOCK_DIR', 'iotests-sock-')

# Default wait for anything the daemon should do promptly.  Generous: the
# machine is shared and noisy.
DEFAULT_TIMEOUT = float(os.environ.get('IOTESTS_TIMEOUT', '60'))


class Skip(Exception):
    """Raise to end the test as 'not run' with a reason (exit status 77)."""


class QMPError(Exception):
    """A QMP command answered with an error (raised by QMP.command())."""

    def __init__(self, response):
        self.response = response
        err = response.get('error', {})
        super().__init__('%s: %s' % (err.get('class'), err.get('desc')))


class QMPTimeout(Exception):
    """Nothing (or not the awaited message) arrived in time."""


class QMPClosed(Exception):
    """The daemon closed the QMP connection."""


def skip(reason):
    raise Skip(reason)


# --------------------------------------------------------------------------
# Binary under test
# --------------------------------------------------------------------------

def is_qsd(binary=None):
    """True when the daemon under test is QEMU's qemu-storage-daemon."""
    return 'qemu-storage-daemon' in os.path.basename(binary or BLOCKD)


def binary_kind(binary=None):
    return 'qsd' if is_qsd(binary) else 'blockd'


def require_blockd(reason):
    """Skip the test unless the binary under test is blockd."""
    if is_qsd():
        raise Skip('blockd only: %s' % reason)


def require_binary(path):
    # A missing daemon is a failure (a broken build), not a reason to skip.
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError('daemon binary not found: %s' % path)


def require_tool(name):
    """Return the path of an external tool, or skip the test."""
    path = shutil.which(name)
    if not path:
        raise Skip('%s not installed' % name)
    return path


# --------------------------------------------------------------------------
# Logging and filters for golden output
# --------------------------------------------------------------------------

def filter_str(text):
    """Normalise the scratch paths and the binary path inside a string."""
    for path, name in ((TEST_DIR, 'TEST_DIR'), (SOCK_DIR, 'SOCK_DIR'),
                       (BLOCKD, 'BLOCKD'), (QSD, 'QSD')):
        if path:
            text = text.replace(path, name)
    return text


def filter_timestamp(obj):
    """Replace the timestamp of an event by fixed placeholders."""
    if isinstance(obj, dict) and 'timestamp' in obj:
        obj = dict(obj)
        obj['timestamp'] = {'seconds': 'SECS', 'microseconds': 'USECS'}
    return obj


def filter_qmp(obj, str_filter=filter_str):
    """Apply str_filter to every string in a decoded JSON value (keys too)."""
    if isinstance(obj, dict):
        return {str_filter(k): filter_qmp(v, str_filter)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [filter_qmp(v, str_filter) for v in obj]
    if isinstance(obj, str):
        return str_filter(obj)
    return obj


def filter_qmp_event(event):
    return filter_qmp(filter_timestamp(event))


def filter_pid(text, pid, name='PID'):
    return re.sub(r'\b%d\b' % pid, name, text)


def filter_version(text):
    return re.sub(r'\d+\.\d+\.\d+', 'X.Y.Z', text)


def dump_json(obj, indent=None):
    """Stable JSON text: sorted keys, fixed separators."""
    return json.dumps(obj, sort_keys=True, indent=indent,
                      separators=(', ', ': ') if indent is None else None)


def log(msg, filters=(), indent=None):
    """Print one line (or an indented block) of golden output.

    dicts and lists are printed as JSON with sorted keys; each filter is a
    function applied to the message first (filter_qmp_event, ...)."""
    for flt in filters:
        msg = flt(msg)
    if isinstance(msg, (dict, list, tuple)):
        print(filter_str(dump_json(msg, indent)))
    else:
        print(filter_str(str(msg)))
    sys.stdout.flush()


def shape(value):
    """Type skeleton of a decoded JSON value: the keys of objects with the
    shapes of their values, the set of element shapes of arrays, the type
    name of scalars.  Used to compare replies of two daemons."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        elems = []
        for v in value:
            s = shape(v)
            if s not in elems:
                elems.append(s)
        elems.sort(key=dump_json)
        return elems
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return 'number'
    if isinstance(value, str):
        return 'str'
    if value is None:
        return 'null'
    return type(value).__name__


# --------------------------------------------------------------------------
# QMP connection
# --------------------------------------------------------------------------

class QMP:
    """One QMP client connection over a unix socket.

    Output of the daemon is one JSON object per CRLF-terminated line.
    Events that arrive while waiting for a command's response are kept in a
    queue (they may come before or after the return)."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, daemon=None):
        self.path = path
        self.timeout = timeout
        self.daemon = daemon
        self.events = []
        self.greeting = None
        self._buf = b''
        self._closed = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ECONNREFUSED,
                                   errno.EAGAIN):
                    raise
                if time.monotonic() > deadline:
                    raise QMPTimeout('cannot connect to %s: %s' % (path, e))
                if daemon is not None:
                    daemon.check_alive()
                time.sleep(0.02)

    # -- raw I/O ----------------------------------------------------------

    def send_bytes(self, data):
        """Write raw bytes (for malformed input); no framing is added."""
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more bytes into the buffer; False on timeout."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.sock], [], [],
                                        min(remaining, 0.5))
            if ready:
                try:
                    data = self.sock.recv(1 << 16)
                except ConnectionResetError:
                    data = b''
                if not data:
                    self._closed = True
                    raise QMPClosed('QMP connection closed by the daemon%s'
                                    % self._daemon_state())
                self._buf += data
                return True
            if self.daemon is not None:
                self.daemon.check_alive(allow_exit=True)

    def _daemon_state(self):
        """' (exit status N; log: ...)' when the daemon has died."""
        if self.daemon is None or self.daemon.proc is None:
            return ''
        try:
            rc = self.daemon.proc.wait(1)
        except subprocess.TimeoutExpired:
            return ''
        how = ('killed by signal %d' % -rc) if rc < 0 else 'exit status %d' % rc
        return ' (%s %s; log tail:\n%s)' % (self.daemon.name, how,
                                            self.daemon.log_text()[-3000:])

    def recv_msg(self, timeout=None):
        """Next message (event or response) as a dict; QMPTimeout if none."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while b'\n' not in self._buf:
            if self._closed:
                raise QMPClosed('QMP connection closed by the daemon')
            if not self._fill(deadline):
                raise QMPTimeout('no QMP message within the timeout')
        line, self._buf = self._buf.split(b'\n', 1)
        line = line.rstrip(b'\r')
        try:
            return json.loads(line.decode('utf-8'))
        except ValueError as e:
            raise ValueError('bad QMP output line %r: %s' % (line[:200], e))

    def recv_raw_line(self, timeout=None):
        """Next output line as bytes, with its terminator (CRLF check)."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while b'\n' not in self._buf:
            if not self._fill(deadline):
                raise QMPTimeout('no QMP output line within the timeout')
        line, self._buf = self._buf.split(b'\n', 1)
        return line + b'\n'

    # -- greeting and negotiation -----------------------------------------

    def read_greeting(self, timeout=None):
        self.greeting = self.recv_msg(timeout)
        if 'QMP' not in self.greeting:
            raise ValueError('not a QMP greeting: %r' % self.greeting)
        return self.greeting

    def negotiate(self):
        if self.greeting is None:
            self.read_greeting()
        resp = self.cmd('qmp_capabilities')
        if resp != {'return': {}}:
            raise QMPError(resp)
        return resp

    # -- commands -------------------------------------------------------

    @staticmethod
    def build(name, args=None, id=None, conv_keys=True, **kwargs):
        """The request dict for a command ('_' in kwargs names → '-')."""
        arguments = dict(args or {})
        for k, v in kwargs.items():
            arguments[k.replace('_', '-') if conv_keys else k] = v
        req = {'execute': name}
        if arguments or args is not None:
            req['arguments'] = arguments
        if id is not None:
            req['id'] = id
        return req

    def send(self, req):
        self.send_bytes(json.dumps(req).encode('utf-8'))

    def response(self, timeout=None):
        """Wait for the next non-event message; events go to the queue."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while True:
            msg = self.recv_msg(max(deadline - time.monotonic(), 0.001))
            if 'event' in msg:
                self.events.append(msg)
                continue
            return msg

    def cmd(self, name, args=None, id=None, timeout=None, **kwargs):
        """Run a command and return the whole response dict."""
        self.send(self.build(name, args, id, **kwargs))
        return self.response(timeout)

    def cmd_obj(self, req, timeout=None):
        """Send a request dict as is and return the response dict."""
        self.send(req)
        return self.response(timeout)

    def command(self, name, args=None, **kwargs):
        """Run a command and return its 'return' value; QMPError if error."""
        resp = self.cmd(name, args, **kwargs)
        if 'error' in resp:
            raise QMPError(resp)
        return resp['return']

    # -- events -----------------------------------------------------------

    @staticmethod
    def _match(event, name, match):
        if name is not None and event.get('event') != name:
            return False
        return match is None or _dict_match(event, match)

    def event_wait(self, name, timeout=None, match=None):
        """Wait for an event by name whose fields contain `match`
        (a dict compared recursively, e.g. {'data': {'id': 'job0'}}).
        Returns it and removes it from the queue; QMPTimeout if none."""
        for i, ev in enumerate(self.events):
            if self._match(ev, name, match):
                return self.events.pop(i)
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPTimeout('event %s not received' % name)
            msg = self.recv_msg(remaining)
            if 'event' not in msg:
                raise ValueError('unexpected non-event message while waiting '
                                 'for %s: %r' % (name, msg))
            if self._match(msg, name, match):
                return msg
            self.events.append(msg)

    def events_wait(self, events, timeout=None):
        """Wait until any of [(name, match), ...] arrives; return it."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while True:
            for i, ev in enumerate(self.events):
                for name, match in events:
                    if self._match(ev, name, match):
                        return self.events.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPTimeout('none of %r received'
                                 % [e[0] for e in events])
            msg = self.recv_msg(remaining)
            if 'event' not in msg:
                raise ValueError('unexpected non-event message: %r' % msg)
            self.events.append(msg)

    def get_events(self, wait=0.0):
        """Return and clear the queued events; with wait > 0, first collect
        whatever arrives within that many seconds."""
        if wait:
            deadline = time.monotonic() + wait
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    msg = self.recv_msg(remaining)
                except (QMPTimeout, QMPClosed):
                    break
                if 'event' in msg:
                    self.events.append(msg)
                else:
                    raise ValueError('unexpected non-event message: %r'
                                     % msg)
        events, self.events = self.events, []
        return events

    def clear_events(self):
        self.events = []

    # -- logging helpers (QEMU iotests style) -----------------------------

    def qmp_log(self, name, args=None, filters=(), indent=None, **kwargs):
        """Print the request and the response, then return the response."""
        req = self.build(name, args, **kwargs)
        log(req, filters, indent)
        resp = self.cmd_obj(req)
        log(resp, filters, indent)
        return resp

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self._closed = True


def _dict_match(obj, pattern):
    """True if every key of pattern is in obj with a matching value."""
    if isinstance(pattern, dict):
        if not isinstance(obj, dict):
            return False
        return all(k in obj and _dict_match(obj[k], v)
                   for k, v in pattern.items())
    return obj == pattern


# --------------------------------------------------------------------------
# Daemon process
# --------------------------------------------------------------------------

_live_daemons = []


class Daemon:
    """A blockd (or qemu-storage-daemon) process with QMP monitors.

    d = Daemon(); d.launch()       # monitor 0 connected and negotiated
    d.cmd('query-version')         # commands go to monitor 0
    d.shutdown()                   # quit, wait, kill if needed

    Each of `monitors` gets a unix socket SOCK_DIR/<name>-qmpN.sock;
    extra command-line arguments go in `args`.  stdout+stderr of the
    daemon go to TEST_DIR/<name>.log (see log_text())."""

    _count = 0

    def __init__(self, args=(), name=None, binary=None, monitors=1,
                 trace=None, pidfile=False, negotiate=True,
                 timeout=DEFAULT_TIMEOUT):
        Daemon._count += 1
        self.name = name or 'd%d' % (Daemon._count - 1)
        self.binary = binary or BLOCKD
        self.kind = binary_kind(self.binary)
        self.timeout = timeout
        self.negotiate_on_launch = negotiate
        self.sockets = [os.path.join(SOCK_DIR, '%s-qmp%d.sock' % (self.name, i))
                        for i in range(monitors)]
        self.pidfile = (os.path.join(TEST_DIR, '%s.pid' % self.name)
                        if pidfile else None)
        self.logpath = os.path.join(TEST_DIR, '%s.log' % self.name)
        self.extra_args = list(args)
        self.trace = trace
        self.proc = None
        self.qmp = None
        self.exitcode = None
        self._logfile = None

    def cmdline(self):
        argv = [self.binary]
        for i, path in enumerate(self.sockets):
            argv += ['--chardev',
                     'socket,id=qmp%d,path=%s,server=on,wait=off' % (i, path),
                     '--monitor', 'chardev=qmp%d' % i]
        if self.trace:
            argv += ['--trace', self.trace]
        if self.pidfile:
            argv += ['--pidfile', self.pidfile]
        return argv + self.extra_args

    def launch(self):
        require_binary(self.binary)
        for path in self.sockets:
            if os.path.exists(path):
                os.unlink(path)
        self._logfile = open(self.logpath, 'wb')
        # The daemon stays in the test's process group so that ./check can
        # kill everything of a test that hangs with one killpg().
        self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                     stdout=self._logfile,
                                     stderr=subprocess.STDOUT)
        _live_daemons.append(self)
        try:
            if self.sockets:
                self.qmp = self.connect(0, negotiate=False)
                self.qmp.read_greeting()
                if self.negotiate_on_launch:
                    self.qmp.negotiate()
        except BaseException:
            self.kill()
            raise
        return self

    def connect(self, index=0, negotiate=True):
        """Open a new QMP connection to monitor `index`."""
        qmp = QMP(self.sockets[index], self.timeout, daemon=self)
        if negotiate:
            qmp.read_greeting()
            qmp.negotiate()
        return qmp

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, allow_exit=False):
        if self.proc is None:
            return
        rc = self.proc.poll()
        if rc is not None and not allow_exit:
            how = ('killed by signal %d' % -rc) if rc < 0 \
                else 'exited with status %d' % rc
            raise RuntimeError('%s %s; log:\n%s'
                               % (self.name, how, self.log_text()[-4000:]))

    def log_text(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    # -- shortcuts to monitor 0 -------------------------------------------

    def cmd(self, name, args=None, **kwargs):
        return self.qmp.cmd(name, args, **kwargs)

    def command(self, name, args=None, **kwargs):
        return self.qmp.command(name, args, **kwargs)

    def qmp_log(self, name, args=None, filters=(), indent=None, **kwargs):
        return self.qmp.qmp_log(name, args, filters, indent, **kwargs)

    def event_wait(self, name, timeout=None, match=None):
        return self.qmp.event_wait(name, timeout, match)

    def events_wait(self, events, timeout=None):
        return self.qmp.events_wait(events, timeout)

    def get_events(self, wait=0.0):
        return self.qmp.get_events(wait)

    # -- ending -----------------------------------------------------------

    def wait(self, timeout=None):
        """Wait for the process to exit; return its exit status or None."""
        if self.proc is None:
            return self.exitcode
        try:
            self.exitcode = self.proc.wait(self.timeout if timeout is None
                                           else timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reap()
        return self.exitcode

    def _reap(self):
        if self.qmp:
            self.qmp.close()
        if self._logfile:
            self._logfile.close()
            self._logfile = None
        if self in _live_daemons:
            _live_daemons.remove(self)

    def send_signal(self, sig):
        if self.is_running():
            self.proc.send_signal(sig)

    def kill(self):
        """SIGTERM, then SIGKILL after a grace period; never raises."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        self.exitcode = self.proc.returncode
        self._reap()

    def shutdown(self, timeout=None):
        """Send quit on monitor 0 (if connected), wait for exit, kill if it
        does not exit in time.  Returns the exit status."""
        if self.proc is None:
            return self.exitcode
        if self.proc.poll() is None and self.qmp is not None:
            try:
                self.qmp.cmd('quit', timeout=timeout)
            except (QMPTimeout, QMPClosed, OSError, ValueError):
                pass
        if self.wait(timeout) is None:
            self.kill()
        return self.exitcode

    def __enter__(self):
        return self.launch()

    def __exit__(self, *exc):
        self.kill()
        return False


def _cleanup_daemons():
    for d in list(_live_daemons):
        d.kill()


atexit.register(_cleanup_daemons)


def _on_sigterm(signum, frame):
    # ./check sends SIGTERM on timeout: turn it into a normal exit so that the
    # atexit handlers kill our daemons.
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


# --------------------------------------------------------------------------
# External tools
# --------------------------------------------------------------------------

# ASan's one-time note about makecontext (our coroutines create each stack
# with it once) is not output of the tool; an ASan build prints it.
_ASAN_NOTE = re.compile(r"^==\d+==WARNING: ASan doesn't fully support "
                        r"makecontext/swapcontext.*\n?", re.M)


def drop_sanitizer_notes(text):
    return _ASAN_NOTE.sub('', text)


def run_tool(argv, timeout=120, check=False, input=None):
    """Run a command; return (exit status, stdout+stderr as text)."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout,
                              input=input)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError('%s timed out after %s s' % (argv[0], timeout)) \
            from e
    out = drop_sanitizer_notes(proc.stdout.decode('utf-8', 'replace'))
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (%d):\n%s'
                           % (' '.join(argv), proc.returncode, out))
    return proc.returncode, out


def qemu_img(*args, check=True, timeout=120):
    """Run qemu-img; returns its output (raises if it fails and check)."""
    return run_tool([require_tool('qemu-img')] + list(args),
                    timeout, check)[1]


def qemu_img_rc(*args, timeout=120):
    return run_tool([require_tool('qemu-img')] + list(args), timeout)


def qemu_img_info(path, fmt=None):
    args = ['info', '--output=json'] + (['-f', fmt] if fmt else []) + [path]
    return json.loads(qemu_img(*args))


def qemu_io(*args, check=True, timeout=120):
    """Run qemu-io; returns its output."""
    return run_tool([require_tool('qemu-io')] + list(args), timeout, check)[1]


def qemu_io_rc(*args, timeout=120):
    return run_tool([require_tool('qemu-io')] + list(args), timeout)


def nbdinfo(*args, check=True, timeout=60):
    """Run nbdinfo; returns its output."""
    return run_tool([require_tool('nbdinfo')] + list(args), timeout, check)[1]


def filter_qemu_io(text):
    """Drop the timing parts of qemu-io output (qemu-io prints "00.00 sec"
    below a second, "0:00:02.78" from one second on)."""
    text = re.sub(r'\d+ ops; [\d:.]+( sec)? \([\d.inf]+ \S+/sec and '
                  r'[\d.inf]+ ops/sec\)',
                  'X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)', text)
    return filter_str(text)


# --------------------------------------------------------------------------
# Test entry point
# --------------------------------------------------------------------------

def main(test_fn):
    """Run test_fn(); turn Skip into exit status 77 with the reason on
    stderr; always clean up the daemons."""
    try:
        test_fn()
    except Skip as e:
        sys.stdout.flush()
        print('skip: %s' % e, file=sys.stderr)
        _cleanup_daemons()
        sys.exit(77)
    finally:
        _cleanup_daemons()
    sys.stdout.flush()
