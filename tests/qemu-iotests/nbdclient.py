# nbdclient.py: helpers of the NBD client and blockd-io tests (050-069):
# running build/tools/blockd-io, starting qemu-nbd and nbdkit as peers, and
# filtering blockd-io's output for golden files.

import json
import os
import re
import signal
import socket
import subprocess
import time

import iotests

BLOCKD_IO = os.path.join(iotests.BUILD_DIR, 'tools', 'blockd-io')


def require_blockd_io():
    if not (os.path.isfile(BLOCKD_IO) and os.access(BLOCKD_IO, os.X_OK)):
        raise RuntimeError('blockd-io not built: %s' % BLOCKD_IO)
    return BLOCKD_IO


def filter_io(text):
    """Drop the timing line of each I/O command (qemu-io's and ours)."""
    text = re.sub(r'^.*, \d+ ops; [0-9:.]+( sec)? \(.*ops/sec\)\n', '',
                  text, flags=re.M)
    return iotests.filter_str(text)


def blockd_io(image, *cmds, opts=(), timeout=60):
    """Run blockd-io with -c for each command; (exit status, output)."""
    argv = [require_blockd_io()] + list(opts)
    for c in cmds:
        argv += ['-c', c]
    argv.append(image)
    return iotests.run_tool(argv, timeout=timeout)


def blockd_io_log(image, *cmds, opts=(), timeout=60):
    rc, out = blockd_io(image, *cmds, opts=opts, timeout=timeout)
    iotests.log(filter_io(out).rstrip('\n'))
    iotests.log('exit status %d' % rc)
    return rc


def qemu_io_log(*args):
    rc, out = iotests.qemu_io_rc(*args)
    iotests.log(filter_io(out).rstrip('\n'))
    iotests.log('qemu-io exit status %d' % rc)
    return rc


def json_image(**opts):
    """A json:{...} image argument for blockd-io."""
    return 'json:' + json.dumps(opts)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_socket(path=None, port=None, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
            else:
                s = socket.create_connection(('127.0.0.1', port))
            s.close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError('server did not start listening')


class Server:
    """A peer NBD server process (qemu-nbd or nbdkit) killed at exit."""

    def __init__(self, argv, sock=None, port=None):
        self.argv = argv
        self.sock = sock
        self.port = port
        self.proc = None

    def start(self):
        if self.sock and os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_socket(self.sock, self.port)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def qemu_nbd(image, export, sock=None, port=None, extra=()):
    argv = [iotests.require_tool('qemu-nbd'), '-f', 'raw', '-x', export,
            '--persistent', '--shared=8'] + list(extra)
    if sock:
        argv += ['--socket', sock]
    else:
        argv += ['-b', '127.0.0.1', '-p', str(port)]
    return Server(argv + [image], sock=sock, port=port)


def nbdkit(sock, *plugin_args, filters=()):
    argv = [iotests.require_tool('nbdkit'), '-f', '-U', sock]
    for f in filters:
        argv.append('--filter=' + f)
    return Server(argv + list(plugin_args), sock=sock)


def unix_uri(sock, export=''):
    return 'nbd+unix:///%s?socket=%s' % (export, sock)
