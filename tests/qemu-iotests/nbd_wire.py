# nbd_wire.py: a raw NBD client for functional tests (iotests 030-049).
#
# Speaks the protocol byte by byte over a plain socket so that tests can
# send exactly what a well-behaved (or hostile) client would: the fixed
# newstyle handshake, options, requests, and half-written garbage.  Every
# read has a timeout; "the server hung up" is an answer, not an error.

import socket
import struct

INIT_MAGIC = 0x4e42444d41474943
OPTS_MAGIC = 0x49484156454F5054
REP_MAGIC = 0x0003e889045565a9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668e33ef

OPT = {'EXPORT_NAME': 1, 'ABORT': 2, 'LIST': 3, 'STARTTLS': 5, 'INFO': 6,
       'GO': 7, 'STRUCTURED_REPLY': 8, 'LIST_META_CONTEXT': 9,
       'SET_META_CONTEXT': 10}
REP = {1: 'ACK', 2: 'SERVER', 3: 'INFO', 4: 'META_CONTEXT',
       0x80000001: 'ERR_UNSUP', 0x80000002: 'ERR_POLICY',
       0x80000003: 'ERR_INVALID', 0x80000004: 'ERR_PLATFORM',
       0x80000005: 'ERR_TLS_REQD', 0x80000006: 'ERR_UNKNOWN',
       0x80000007: 'ERR_SHUTDOWN', 0x80000008: 'ERR_BLOCK_SIZE_REQD',
       0x80000009: 'ERR_TOO_BIG'}
CMD = {'READ': 0, 'WRITE': 1, 'DISC': 2, 'FLUSH': 3, 'TRIM': 4, 'CACHE': 5,
       'WRITE_ZEROES': 6, 'BLOCK_STATUS': 7}
FLAG = {'FUA': 1, 'NO_HOLE': 2, 'DF': 4, 'REQ_ONE': 8, 'FAST_ZERO': 16}
ERRNO = {0: 'OK', 1: 'EPERM', 5: 'EIO', 12: 'ENOMEM', 22: 'EINVAL',
         28: 'ENOSPC', 75: 'EOVERFLOW', 95: 'ENOTSUP', 108: 'ESHUTDOWN'}
REPLY_TYPE = {0: 'NONE', 1: 'OFFSET_DATA', 2: 'OFFSET_HOLE',
              5: 'BLOCK_STATUS', 0x8001: 'ERROR', 0x8002: 'ERROR_OFFSET'}
INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 1, 2, 3


class Hangup(Exception):
    """The server closed the connection."""


class Client:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.cookie = 0
        self.structured = False

    def close(self):
        self.sock.close()

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            raise Hangup()

    def recv(self, n):
        buf = b''
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                raise Hangup()
            buf += chunk
        return buf

    def hung_up(self):
        """True if the server closed the connection (data before EOF is
        discarded); False if it is still open after the timeout."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    # ---- handshake ----

    def greeting(self, client_flags=3):
        magic, opts, flags = struct.unpack('>QQH', self.recv(18))
        assert magic == INIT_MAGIC and opts == OPTS_MAGIC, 'bad greeting'
        self.send(struct.pack('>I', client_flags))
        return flags

    def option(self, opt, payload=b''):
        if isinstance(opt, str):
            opt = OPT[opt]
        self.send(struct.pack('>QII', OPTS_MAGIC, opt, len(payload)) + payload)

    def opt_reply(self):
        magic, opt, rtype, length = struct.unpack('>QIII', self.recv(20))
        assert magic == REP_MAGIC, 'bad option reply magic'
        return REP.get(rtype, hex(rtype)), self.recv(length)

    def opt_replies(self):
        """Replies up to the final one (ACK or an error)."""
        out = []
        while True:
            rtype, data = self.opt_reply()
            out.append((rtype, data))
            if rtype == 'ACK' or rtype.startswith('ERR'):
                return out

    @staticmethod
    def name_payload(name, infos=()):
        name = name.encode()
        return (struct.pack('>I', len(name)) + name +
                struct.pack('>H', len(infos)) +
                b''.join(struct.pack('>H', i) for i in infos))

    @staticmethod
    def meta_payload(name, queries):
        name = name.encode()
        out = struct.pack('>I', len(name)) + name + struct.pack('>I', len(queries))
        for q in queries:
            q = q.encode()
            out += struct.pack('>I', len(q)) + q
        return out

    def go(self, name, structured=True, contexts=()):
        """A complete handshake; returns (size, transmission flags)."""
        self.greeting()
        if structured:
            self.option('STRUCTURED_REPLY')
            assert self.opt_replies()[-1][0] == 'ACK'
            self.structured = True
            if contexts:
                self.option('SET_META_CONTEXT', self.meta_payload(name, contexts))
                assert self.opt_replies()[-1][0] == 'ACK'
        self.option('GO', self.name_payload(name))
        size = flags = None
        for rtype, data in self.opt_replies():
            if rtype == 'INFO' and struct.unpack('>H', data[:2])[0] == INFO_EXPORT:
                size, flags = struct.unpack('>QH', data[2:])
            elif rtype != 'INFO' and rtype != 'ACK':
                raise RuntimeError('GO failed: %s %r' % (rtype, data))
        return size, flags

    # ---- transmission ----

    def request(self, cmd, offset=0, length=0, flags=0, payload=b'', cookie=None):
        if isinstance(cmd, str):
            cmd = CMD[cmd]
        if cookie is None:
            self.cookie += 1
            cookie = self.cookie
        self.send(struct.pack('>IHHQQI', REQUEST_MAGIC, flags, cmd, cookie,
                              offset, length) + payload)
        return cookie

    def reply(self, read_len=0):
        """One simple reply (with read_len bytes of data on success) or one
        structured chunk: a dict."""
        magic = struct.unpack('>I', self.recv(4))[0]
        if magic == SIMPLE_REPLY_MAGIC:
            err, cookie = struct.unpack('>IQ', self.recv(12))
            data = self.recv(read_len) if (err == 0 and read_len) else b''
            return {'simple': True, 'error': ERRNO.get(err, err), 'cookie': cookie,
                    'data': data, 'done': True}
        assert magic == STRUCTURED_REPLY_MAGIC, 'bad reply magic %x' % magic
        flags, rtype, cookie, length = struct.unpack('>HHQI', self.recv(16))
        payload = self.recv(length)
        r = {'simple': False, 'type': REPLY_TYPE.get(rtype, hex(rtype)),
             'cookie': cookie, 'done': bool(flags & 1), 'payload': payload,
             'error': 'OK'}
        if rtype & 0x8000:
            err, mlen = struct.unpack('>IH', payload[:6])
            r['error'] = ERRNO.get(err, err)
            r['message'] = payload[6:6 + mlen].decode('utf-8', 'replace')
        return r

    def command(self, cmd, offset=0, length=0, flags=0, payload=b''):
        """Send one request and collect its whole reply: (error, data) where
        data is the bytes read (holes filled in) or the chunks."""
        cookie = self.request(cmd, offset, length, flags, payload)
        read_len = length if cmd in ('READ', CMD['READ']) else 0
        data = bytearray(read_len)
        chunks = []
        error = 'OK'
        while True:
            r = self.reply(read_len)
            assert r['cookie'] == cookie, 'unexpected cookie'
            if r['simple']:
                error = r['error']
                if r['data']:
                    data[:] = r['data']
                break
            chunks.append(r)
            if r['error'] != 'OK':
                error = r['error']
            elif r['type'] == 'OFFSET_DATA':
                off = struct.unpack('>Q', r['payload'][:8])[0] - offset
                data[off:off + len(r['payload']) - 8] = r['payload'][8:]
            if r['done']:
                break
        if cmd in ('BLOCK_STATUS', CMD['BLOCK_STATUS']):
            return error, chunks
        return error, bytes(data)
