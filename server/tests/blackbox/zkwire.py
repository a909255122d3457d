"""A small ZooKeeper wire-protocol client, standard library only.

It exists for what kazoo 2.8 (Debian bookworm) cannot do: container and TTL nodes, persistent and
persistent-recursive watches (addWatch), checkWatches/removeWatches, getEphemerals,
getAllChildrenNumber, whoAmI, multiRead, and precise session control (going silent with the
socket open, dropping the socket without closeSession, resuming a session by id and password and
re-registering watches with setWatches/setWatches2, which kazoo never sends).

Record layouts follow server/PROTOCOL.md. Every blocking call is bounded by `io_timeout` seconds.
Replies are matched to requests by xid; notifications (xid -1) go to `events`; every frame that
arrives is also appended, in arrival order, to `arrivals`, so a test can check that a
notification came before the reply to the write that fired it.
"""

import os
import queue
import socket
import struct
import threading
import time

# Op codes (PROTOCOL.md section 5).
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_RECONFIG = 16
OP_CHECK_WATCHES = 17
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_SET_WATCHES = 101
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_SET_WATCHES2 = 105
OP_ADD_WATCH = 106
OP_WHO_AM_I = 107
OP_CLOSE = -11
OP_ERROR = -1

XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

ERROR_NAMES = {
    0: "Ok",
    -1: "SystemError",
    -2: "RuntimeInconsistency",
    -3: "DataInconsistency",
    -4: "ConnectionLoss",
    -5: "MarshallingError",
    -6: "Unimplemented",
    -7: "OperationTimeout",
    -8: "BadArguments",
    -12: "UnknownSession",
    -13: "NewConfigNoQuorum",
    -14: "ReconfigInProgress",
    -100: "APIError",
    -101: "NoNode",
    -102: "NoAuth",
    -103: "BadVersion",
    -108: "NoChildrenForEphemerals",
    -110: "NodeExists",
    -111: "NotEmpty",
    -112: "SessionExpired",
    -113: "InvalidCallback",
    -114: "InvalidACL",
    -115: "AuthFailed",
    -118: "SessionMoved",
    -119: "NotReadOnly",
    -120: "EphemeralOnLocalSession",
    -121: "NoWatcher",
    -122: "RequestTimeout",
    -123: "ReconfigDisabled",
    -124: "SessionClosedRequireSaslAuth",
    -125: "QuotaExceeded",
    -127: "ThrottledOp",
}

EVENT_NAMES = {
    -1: "None",
    1: "NodeCreated",
    2: "NodeDeleted",
    3: "NodeDataChanged",
    4: "NodeChildrenChanged",
    5: "DataWatchRemoved",
    6: "ChildWatchRemoved",
    7: "PersistentWatchRemoved",
}

STATE_NAMES = {
    -1: "Unknown",
    0: "Disconnected",
    3: "SyncConnected",
    4: "AuthFailed",
    5: "ConnectedReadOnly",
    6: "SaslAuthenticated",
    7: "Closed",
    -112: "Expired",
}

# Create modes (section 9.3).
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# addWatch modes and watcher types (section 9.2).
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1
WATCHER_CHILDREN = 1
WATCHER_DATA = 2
WATCHER_ANY = 3
WATCHER_PERSISTENT = 4
WATCHER_PERSISTENT_RECURSIVE = 5

PERM_READ = 1
PERM_WRITE = 2
PERM_CREATE = 4
PERM_DELETE = 8
PERM_ADMIN = 16
PERM_ALL = 31

OPEN_ACL_UNSAFE = [(PERM_ALL, "world", "anyone")]

STAT_FIELDS = (
    "czxid",
    "mzxid",
    "ctime",
    "mtime",
    "version",
    "cversion",
    "aversion",
    "ephemeralOwner",
    "dataLength",
    "numChildren",
    "pzxid",
)
_STAT = struct.Struct("!qqqqiiiqiiq")
_REPLY_HEADER = struct.Struct("!iqi")
_MULTI_HEADER = struct.Struct("!i?i")


class ZkError(Exception):
    """The server answered with a non-zero error code."""

    def __init__(self, code, what=""):
        self.code = code
        self.name = ERROR_NAMES.get(code, "Unknown(%d)" % code)
        super().__init__("%s (%d)%s" % (self.name, code, (": " + what) if what else ""))


class WireTimeout(Exception):
    """No answer within io_timeout."""


class ConnectionClosed(Exception):
    """The server closed the connection (or the socket failed)."""


class SessionRefused(Exception):
    """The ConnectResponse had timeOut 0: the session expired or the password was wrong."""


# ---------------------------------------------------------------- encoding


def enc_int(n):
    return struct.pack("!i", n)


def enc_long(n):
    return struct.pack("!q", n)


def enc_bool(b):
    return b"\x01" if b else b"\x00"


def enc_buffer(b):
    if b is None:
        return enc_int(-1)
    return enc_int(len(b)) + b


def enc_string(s):
    if s is None:
        return enc_int(-1)
    raw = s.encode("utf-8")
    return enc_int(len(raw)) + raw


def enc_strings(items):
    return enc_int(len(items)) + b"".join(enc_string(s) for s in items)


def enc_acl(acl):
    out = enc_int(len(acl))
    for perms, scheme, ident in acl:
        out += enc_int(perms) + enc_string(scheme) + enc_string(ident)
    return out


class Reader:
    """Decodes jute primitives from a bytes object."""

    def __init__(self, data, offset=0):
        self.data = data
        self.offset = offset

    def _take(self, n):
        if self.offset + n > len(self.data):
            raise ValueError("record ends early at offset %d (need %d bytes)" % (self.offset, n))
        chunk = self.data[self.offset : self.offset + n]
        self.offset += n
        return chunk

    def int(self):
        return struct.unpack("!i", self._take(4))[0]

    def long(self):
        return struct.unpack("!q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return self._take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "replace")

    def strings(self):
        n = self.int()
        return [self.string() for _ in range(max(n, 0))]

    def stat(self):
        return dict(zip(STAT_FIELDS, _STAT.unpack(self._take(_STAT.size))))

    def acl(self):
        n = self.int()
        out = []
        for _ in range(max(n, 0)):
            perms = self.int()
            scheme = self.string()
            ident = self.string()
            out.append((perms, scheme, ident))
        return out

    def rest(self):
        return self.data[self.offset :]


# ---------------------------------------------------------------- the client


def parse_hosts(hosts):
    """'127.0.0.1:2181' (first entry of a comma list) -> ('127.0.0.1', 2181)."""
    first = hosts.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host, int(port)


class WireClient:
    """One connection carrying one session.

    `connect()` opens the socket and performs the handshake (a new session, or the one given by
    `session_id`/`passwd`). A background thread reads frames; another sends pings every third of
    the negotiated timeout unless `auto_ping` is false or `go_silent()` was called.
    """

    def __init__(
        self,
        hosts,
        timeout_ms=10000,
        session_id=0,
        passwd=b"\x00" * 16,
        last_zxid=0,
        read_only=False,
        io_timeout=10.0,
        auto_ping=True,
    ):
        self.address = parse_hosts(hosts)
        self.requested_timeout_ms = timeout_ms
        self.session_id = session_id
        self.passwd = passwd
        self.last_zxid = last_zxid
        self.read_only = read_only
        self.io_timeout = io_timeout
        self.auto_ping = auto_ping
        self.negotiated_timeout_ms = None
        self.events = queue.Queue()
        self.arrivals = []  # ("event", type, path) or ("reply", xid, err), in arrival order
        self._arrivals_lock = threading.Lock()
        self._sock = None
        self._send_lock = threading.Lock()
        self._pending = {}  # xid -> queue.Queue(1)
        self._pending_lock = threading.Lock()
        self._xid = 0
        self._closed = threading.Event()
        self._silent = threading.Event()
        self._threads = []

    # -- connection management

    def connect(self):
        sock = socket.create_connection(self.address, timeout=self.io_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = (
            enc_int(0)
            + enc_long(self.last_zxid)
            + enc_int(self.requested_timeout_ms)
            + enc_long(self.session_id)
            + enc_buffer(self.passwd)
            + enc_bool(self.read_only)
        )
        sock.sendall(enc_int(len(body)) + body)
        frame = _read_frame(sock)
        if frame is None:
            sock.close()
            raise ConnectionClosed("server closed the connection during the handshake")
        r = Reader(frame)
        r.int()  # protocolVersion
        timeout_ms = r.int()
        session_id = r.long()
        passwd = r.buffer()
        if timeout_ms <= 0:
            sock.close()
            raise SessionRefused("session 0x%x refused (expired or bad password)" % self.session_id)
        self.negotiated_timeout_ms = timeout_ms
        self.session_id = session_id
        self.passwd = passwd
        self._sock = sock
        sock.settimeout(None)
        self._closed.clear()
        self._silent.clear()
        reader = threading.Thread(target=self._read_loop, args=(sock,), daemon=True)
        reader.start()
        self._threads.append(reader)
        if self.auto_ping:
            pinger = threading.Thread(target=self._ping_loop, args=(sock,), daemon=True)
            pinger.start()
            self._threads.append(pinger)
        return self

    def go_silent(self):
        """Stop pinging; the socket stays open. The server should expire the session."""
        self._silent.set()

    def drop(self):
        """Close the socket without closeSession (a client that vanishes or loses its link)."""
        self._silent.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._closed.wait(self.io_timeout)

    def close(self):
        """closeSession, then close the socket. Errors are ignored: this is cleanup."""
        if self._sock is None:
            return
        try:
            if not self._closed.is_set():
                self._call(OP_CLOSE, b"")
        except (ZkError, WireTimeout, ConnectionClosed, OSError):
            pass
        self.drop()

    def resume(self, timeout_ms=None):
        """A new connection for the same session (id, password, last zxid seen)."""
        other = WireClient(
            "%s:%d" % self.address,
            timeout_ms=timeout_ms or self.negotiated_timeout_ms or self.requested_timeout_ms,
            session_id=self.session_id,
            passwd=self.passwd,
            last_zxid=self.last_zxid,
            read_only=self.read_only,
            io_timeout=self.io_timeout,
            auto_ping=self.auto_ping,
        )
        return other.connect()

    def is_closed(self):
        return self._closed.is_set()

    def wait_closed(self, timeout):
        return self._closed.wait(timeout)

    # -- frame I/O

    def _send(self, payload):
        with self._send_lock:
            if self._sock is None or self._closed.is_set():
                raise ConnectionClosed("connection is closed")
            try:
                self._sock.sendall(enc_int(len(payload)) + payload)
            except OSError as e:
                raise ConnectionClosed("send failed: %s" % e)

    def _read_loop(self, sock):
        try:
            while True:
                frame = _read_frame(sock)
                if frame is None:
                    break
                r = Reader(frame)
                xid, zxid, err = _REPLY_HEADER.unpack(r._take(_REPLY_HEADER.size))
                if zxid > 0 and xid != XID_PING:
                    self.last_zxid = max(self.last_zxid, zxid)
                if xid == XID_NOTIFICATION:
                    etype = r.int()
                    state = r.int()
                    path = r.string()
                    with self._arrivals_lock:
                        self.arrivals.append(("event", etype, path))
                    self.events.put({"type": etype, "state": state, "path": path, "zxid": zxid})
                    continue
                if xid == XID_PING:
                    continue
                with self._arrivals_lock:
                    self.arrivals.append(("reply", xid, err))
                with self._pending_lock:
                    slot = self._pending.pop(xid, None)
                if slot is not None:
                    slot.put((zxid, err, r.rest()))
        except (OSError, ValueError, struct.error):
            pass
        finally:
            self._closed.set()
            with self._pending_lock:
                pending = list(self._pending.values())
                self._pending.clear()
            for slot in pending:
                slot.put(None)

    def _ping_loop(self, sock):
        interval = max(self.negotiated_timeout_ms / 3000.0, 0.05)
        while not self._closed.wait(interval):
            if self._silent.is_set() or sock is not self._sock:
                return
            try:
                self._send(enc_int(XID_PING) + enc_int(OP_PING))
            except ConnectionClosed:
                return

    def _call(self, op, body, xid=None):
        if xid is None:
            self._xid += 1
            xid = self._xid
        slot = queue.Queue(1)
        with self._pending_lock:
            self._pending[xid] = slot
        self._send(enc_int(xid) + enc_int(op) + body)
        try:
            result = slot.get(timeout=self.io_timeout)
        except queue.Empty:
            with self._pending_lock:
                self._pending.pop(xid, None)
            raise WireTimeout("no reply to op %d (xid %d) within %.1f s" % (op, xid, self.io_timeout))
        if result is None:
            raise ConnectionClosed("connection closed while waiting for op %d (xid %d)" % (op, xid))
        return result

    def call(self, op, body, what="", xid=None):
        """Send one request; return a Reader over the reply body or raise ZkError."""
        _zxid, err, rest = self._call(op, body, xid)
        if err != 0:
            raise ZkError(err, what)
        return Reader(rest)

    # -- operations

    def create(self, path, data=b"", acl=None, mode=PERSISTENT, ttl=None, op=None):
        """create / create2 / createContainer / createTTL. Returns (path, stat or None)."""
        acl = OPEN_ACL_UNSAFE if acl is None else acl
        if op is None:
            if mode == CONTAINER:
                op = OP_CREATE_CONTAINER
            elif mode in (PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL):
                op = OP_CREATE_TTL
            else:
                op = OP_CREATE2
        body = enc_string(path) + enc_buffer(data) + enc_acl(acl) + enc_int(mode)
        if op == OP_CREATE_TTL:
            body += enc_long(ttl if ttl is not None else 0)
        r = self.call(op, body, path)
        created = r.string()
        stat = r.stat() if op != OP_CREATE else None
        return created, stat

    def delete(self, path, version=-1):
        self.call(OP_DELETE, enc_string(path) + enc_int(version), path)

    def exists(self, path, watch=False):
        """Stat, or None when the node does not exist (the watch is then an exists watch)."""
        try:
            return self.call(OP_EXISTS, enc_string(path) + enc_bool(watch), path).stat()
        except ZkError as e:
            if e.code == -101:
                return None
            raise

    def get_data(self, path, watch=False):
        r = self.call(OP_GET_DATA, enc_string(path) + enc_bool(watch), path)
        data = r.buffer()
        return data, r.stat()

    def set_data(self, path, data, version=-1):
        return self.call(
            OP_SET_DATA, enc_string(path) + enc_buffer(data) + enc_int(version), path
        ).stat()

    def get_acl(self, path):
        r = self.call(OP_GET_ACL, enc_string(path), path)
        acl = r.acl()
        return acl, r.stat()

    def set_acl(self, path, acl, version=-1):
        return self.call(OP_SET_ACL, enc_string(path) + enc_acl(acl) + enc_int(version), path).stat()

    def get_children(self, path, watch=False):
        return self.call(OP_GET_CHILDREN, enc_string(path) + enc_bool(watch), path).strings()

    def get_children2(self, path, watch=False):
        r = self.call(OP_GET_CHILDREN2, enc_string(path) + enc_bool(watch), path)
        children = r.strings()
        return children, r.stat()

    def sync(self, path):
        return self.call(OP_SYNC, enc_string(path), path).string()

    def get_all_children_number(self, path):
        return self.call(OP_GET_ALL_CHILDREN_NUMBER, enc_string(path), path).int()

    def get_ephemerals(self, prefix="/"):
        return self.call(OP_GET_EPHEMERALS, enc_string(prefix), prefix).strings()

    def add_watch(self, path, mode):
        self.call(OP_ADD_WATCH, enc_string(path) + enc_int(mode), path)

    def check_watches(self, path, watcher_type):
        self.call(OP_CHECK_WATCHES, enc_string(path) + enc_int(watcher_type), path)

    def remove_watches(self, path, watcher_type):
        self.call(OP_REMOVE_WATCHES, enc_string(path) + enc_int(watcher_type), path)

    def who_am_i(self):
        r = self.call(OP_WHO_AM_I, b"")
        n = r.int()
        return [(r.string(), r.string()) for _ in range(max(n, 0))]

    def add_auth(self, scheme, auth):
        """AuthPacket (xid -4). Raises ZkError(AuthFailed) if refused (the server then closes)."""
        if isinstance(auth, str):
            auth = auth.encode("utf-8")
        self.call(OP_AUTH, enc_int(0) + enc_string(scheme) + enc_buffer(auth), scheme, xid=XID_AUTH)

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        body = enc_long(relative_zxid) + enc_strings(list(data)) + enc_strings(list(exist))
        body += enc_strings(list(child))
        self.call(OP_SET_WATCHES, body, "setWatches", xid=XID_SET_WATCHES)

    def set_watches2(
        self, relative_zxid, data=(), exist=(), child=(), persistent=(), recursive=()
    ):
        body = enc_long(relative_zxid) + enc_strings(list(data)) + enc_strings(list(exist))
        body += enc_strings(list(child)) + enc_strings(list(persistent))
        body += enc_strings(list(recursive))
        self.call(OP_SET_WATCHES2, body, "setWatches2", xid=XID_SET_WATCHES)

    def multi(self, ops, read=False):
        """ops: list of tuples:
        ("create", path, data, acl, mode) / ("create2", ...) / ("create_container", path, data)
        ("create_ttl", path, data, mode, ttl) / ("delete", path, version)
        ("set", path, data, version) / ("check", path, version)
        ("get_children", path) / ("get_data", path)    (multiRead)
        Returns a list of result dicts: {"op": name, "err": name, ...}.
        """
        body = b""
        for op in ops:
            kind = op[0]
            if kind in ("create", "create2"):
                _, path, data, acl, mode = op
                code = OP_CREATE if kind == "create" else OP_CREATE2
                rec = enc_string(path) + enc_buffer(data) + enc_acl(OPEN_ACL_UNSAFE if acl is None else acl)
                rec += enc_int(mode)
            elif kind == "create_container":
                _, path, data = op
                code = OP_CREATE_CONTAINER
                rec = enc_string(path) + enc_buffer(data) + enc_acl(OPEN_ACL_UNSAFE)
                rec += enc_int(CONTAINER)
            elif kind == "create_ttl":
                _, path, data, mode, ttl = op
                code = OP_CREATE_TTL
                rec = enc_string(path) + enc_buffer(data) + enc_acl(OPEN_ACL_UNSAFE)
                rec += enc_int(mode) + enc_long(ttl)
            elif kind == "delete":
                _, path, version = op
                code = OP_DELETE
                rec = enc_string(path) + enc_int(version)
            elif kind == "set":
                _, path, data, version = op
                code = OP_SET_DATA
                rec = enc_string(path) + enc_buffer(data) + enc_int(version)
            elif kind == "check":
                _, path, version = op
                code = OP_CHECK
                rec = enc_string(path) + enc_int(version)
            elif kind == "get_children":
                code = OP_GET_CHILDREN
                rec = enc_string(op[1]) + enc_bool(False)
            elif kind == "get_data":
                code = OP_GET_DATA
                rec = enc_string(op[1]) + enc_bool(False)
            else:
                raise ValueError("unknown multi op %r" % (kind,))
            body += _MULTI_HEADER.pack(code, False, -1) + rec
        body += _MULTI_HEADER.pack(-1, True, -1)
        r = self.call(OP_MULTI_READ if read else OP_MULTI, body, "multi")
        results = []
        while True:
            code, done, err = _MULTI_HEADER.unpack(r._take(_MULTI_HEADER.size))
            if done:
                break
            if code == OP_ERROR:
                results.append({"op": "error", "err": ERROR_NAMES.get(r.int(), "?")})
            elif code == OP_CREATE:
                results.append({"op": "create", "err": "Ok", "path": r.string()})
            elif code == OP_CREATE2:
                results.append({"op": "create2", "err": "Ok", "path": r.string(), "stat": r.stat()})
            elif code == OP_DELETE:
                results.append({"op": "delete", "err": "Ok"})
            elif code == OP_SET_DATA:
                results.append({"op": "set", "err": "Ok", "stat": r.stat()})
            elif code == OP_CHECK:
                results.append({"op": "check", "err": "Ok"})
            elif code == OP_GET_CHILDREN:
                results.append({"op": "get_children", "err": "Ok", "children": r.strings()})
            elif code == OP_GET_DATA:
                data = r.buffer()
                results.append({"op": "get_data", "err": "Ok", "data": data, "stat": r.stat()})
            else:
                raise ValueError("unknown multi result type %d" % code)
        return results

    # -- events

    def wait_event(self, timeout=10.0):
        """The next notification, or raise WireTimeout."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise WireTimeout("no watch event within %.1f s" % timeout)

    def drain_events(self, settle=0.0):
        """Every notification received so far (after waiting `settle` seconds)."""
        if settle:
            time.sleep(settle)
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


def _read_exact(sock, n):
    chunks = []
    while n > 0:
        chunk = sock.recv(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(sock):
    head = _read_exact(sock, 4)
    if head is None:
        return None
    (length,) = struct.unpack("!i", head)
    if length < 0 or length > 0x1000000:
        raise ValueError("bad frame length %d" % length)
    return _read_exact(sock, length)


def four_letter_word(hosts, word, timeout=5.0):
    """Send a four-letter word; return the server's whole answer as text."""
    sock = socket.create_connection(parse_hosts(hosts), timeout=timeout)
    try:
        sock.sendall(word.encode("ascii"))
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        sock.close()


def random_suffix():
    return os.urandom(4).hex()
