#!/usr/bin/python3
"""Sessions: negotiated timeouts; a client that goes silent (socket open, no pings) or vanishes
(socket closed without closeSession) and does not come back loses its session and its
ephemeral nodes after the session timeout; a client that comes back in time keeps its session
id, its ephemerals and, by re-registering them with setWatches/setWatches2, its watches
(changes made while it was away fire at once). Also: resuming an expired or closed session is
refused, a wrong password is refused, kazoo reconnects transparently and reports LOST when its
session was closed elsewhere.

kazoo 2.8 never sends setWatches (on a reconnect it fires its local watchers with a None event
and forgets them), so watch survival is tested with zkwire, which does what the Java client
does.

The server must allow session timeouts from --min-session-timeout to --max-session-timeout
(defaults 400 and 10000 ms: the Rust tests use tickTime=200, minSessionTimeout=400,
maxSessionTimeout=10000).
"""

import socket
import sys
import threading

sys.dont_write_bytecode = True

import common  # noqa: E402
from common import EventLog, check, check_eq, quiet_period, wait_until  # noqa: E402
import zkwire  # noqa: E402
from kazoo.protocol.states import EventType, KazooState  # noqa: E402


def arguments(parser):
    parser.add_argument("--min-session-timeout", type=int, default=400)
    parser.add_argument("--max-session-timeout", type=int, default=10000)


S = common.Script(__doc__, arguments)
ROOT = "/bb-sessions"
SHORT_MS = 1000  # the session timeout of clients meant to expire
LONG_MS = 6000  # the session timeout of clients meant to come back in time
EXPIRY_WAIT = 15.0  # bound on how long an expiry may take to be observed

observer = S.client()


def setup():
    common.reset_root(observer, ROOT)


def negotiated_timeouts():
    low = S.wire(timeout_ms=1)
    check_eq(low.negotiated_timeout_ms, S.args.min_session_timeout, "a timeout below the minimum")
    high = S.wire(timeout_ms=10_000_000)
    check_eq(high.negotiated_timeout_ms, S.args.max_session_timeout, "a timeout above the maximum")
    mid = S.wire(timeout_ms=SHORT_MS)
    check_eq(mid.negotiated_timeout_ms, SHORT_MS, "a timeout within bounds")
    check(low.session_id != high.session_id != mid.session_id, "distinct session ids")
    for w in (low, high, mid):
        w.close()


def pings_keep_a_session():
    w = S.wire(timeout_ms=SHORT_MS)
    w.create(ROOT + "/pinged", b"", mode=zkwire.EPHEMERAL)
    # Absence of expiry can only be observed over time: three timeouts of pings.
    quiet_period(3 * SHORT_MS / 1000.0)
    check(not w.is_closed(), "a pinging client keeps its connection")
    check(observer.exists(ROOT + "/pinged") is not None, "and its ephemeral")
    # A silence shorter than the timeout is fine too.
    w.go_silent()
    quiet_period(SHORT_MS / 3000.0)
    check(w.exists(ROOT + "/pinged") is not None, "a request after a short silence")
    w.close()
    check_eq(observer.exists(ROOT + "/pinged"), None, "closeSession removes ephemerals at once")


def silent_client_expires():
    path = ROOT + "/silent"
    w = S.wire(timeout_ms=SHORT_MS)
    w.create(path, b"", mode=zkwire.EPHEMERAL)
    w.create(path + "-seq-", b"", mode=zkwire.EPHEMERAL_SEQUENTIAL)
    log = EventLog()
    check(observer.exists(path, watch=log.watcher()) is not None, "the ephemeral exists")
    observer.get_children(ROOT, watch=log.watcher())
    w.go_silent()  # the socket stays open; no more pings or requests
    events = log.wait_count(2, EXPIRY_WAIT, "the expiry's watch events")
    check_eq(
        sorted(events),
        sorted([(EventType.DELETED, "CONNECTED", path), (EventType.CHILD, "CONNECTED", ROOT)]),
        "events of the expiry",
    )
    check_eq(observer.get_children(ROOT), [], "every ephemeral of the session is gone")
    check(w.wait_closed(EXPIRY_WAIT), "the server closes the expired session's connection")
    try:
        w.resume()
        raise common.CheckFailed("resuming an expired session should be refused")
    except zkwire.SessionRefused:
        pass


def vanished_client_expires():
    path = ROOT + "/vanished"
    w = S.wire(timeout_ms=SHORT_MS)
    w.create(path, b"", mode=zkwire.EPHEMERAL)
    log = EventLog()
    observer.exists(path, watch=log.watcher())
    w.drop()  # the connection closes without closeSession
    log.wait_count(1, EXPIRY_WAIT, "the ephemeral's deletion")
    check_eq(log.events, [(EventType.DELETED, "CONNECTED", path)], "deleted by the expiry")
    try:
        w.resume()
        raise common.CheckFailed("resuming an expired session should be refused")
    except zkwire.SessionRefused:
        pass


def reconnect_in_time_keeps_session_and_watches():
    keep = ROOT + "/keep"
    changed = ROOT + "/changed-while-away"
    unchanged = ROOT + "/unchanged"
    created_later = ROOT + "/created-later"
    parent = ROOT + "/parent"
    persistent = ROOT + "/persistent"
    recursive = ROOT + "/recursive"
    for p in (changed, unchanged, parent, recursive):
        observer.create(p, b"")

    w = S.wire(timeout_ms=LONG_MS)
    session = w.session_id
    w.create(keep, b"", mode=zkwire.EPHEMERAL)
    w.get_data(changed, watch=True)
    w.get_data(unchanged, watch=True)
    check_eq(w.exists(created_later, watch=True), None, "exists watch on a missing node")
    w.get_children(parent, watch=True)
    w.add_watch(persistent, zkwire.ADD_WATCH_PERSISTENT)
    w.add_watch(recursive, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE)
    last_seen = w.last_zxid

    w.drop()
    # The session outlives its connection: the ephemeral stays while the client is away.
    check(observer.exists(keep) is not None, "the ephemeral stays right after the drop")
    observer.set(changed, b"changed while away")

    back = w.resume()
    S.wires.append(back)
    check_eq(back.session_id, session, "the same session")
    check_eq(back.negotiated_timeout_ms, LONG_MS, "the same timeout")
    stat = observer.exists(keep)
    check(stat is not None, "the ephemeral survived the reconnect")
    check_eq(stat.ephemeralOwner, session, "still owned by the session")
    back.set_watches2(
        last_seen,
        data=[changed, unchanged],
        exist=[created_later],
        child=[parent],
        persistent=[persistent],
        recursive=[recursive],
    )
    e = back.wait_event(10)
    check_eq(
        (zkwire.EVENT_NAMES[e["type"]], e["path"]),
        ("NodeDataChanged", changed),
        "a change made while away fires on setWatches",
    )
    quiet_period()
    check_eq(back.drain_events(), [], "unchanged nodes do not fire")
    observer.set(unchanged, b"now")
    observer.create(created_later, b"")
    observer.create(parent + "/kid", b"")
    observer.create(persistent, b"")
    observer.create(recursive + "/deep", b"")
    observer.set(persistent, b"p")
    got = []
    for _ in range(6):
        ev = back.wait_event(10)
        got.append((zkwire.EVENT_NAMES[ev["type"]], ev["path"]))
    check_eq(
        got,
        [
            ("NodeDataChanged", unchanged),
            ("NodeCreated", created_later),
            ("NodeChildrenChanged", parent),
            ("NodeCreated", persistent),
            ("NodeCreated", recursive + "/deep"),
            ("NodeDataChanged", persistent),
        ],
        "re-registered watches fire after the reconnect",
    )
    back.close()
    check_eq(observer.exists(keep), None, "closeSession after the reconnect removes it")
    for p in (changed, unchanged, created_later, persistent):
        observer.delete(p)
    observer.delete(parent, recursive=True)
    observer.delete(recursive, recursive=True)


def old_set_watches():
    """setWatches (101), the form without persistent watches, as older clients send it."""
    path = ROOT + "/old-form"
    observer.create(path, b"")
    w = S.wire(timeout_ms=LONG_MS)
    w.get_data(path, watch=True)
    last_seen = w.last_zxid
    w.drop()
    observer.set(path, b"x")
    back = w.resume()
    S.wires.append(back)
    back.set_watches(last_seen, data=[path])
    e = back.wait_event(10)
    check_eq((zkwire.EVENT_NAMES[e["type"]], e["path"]), ("NodeDataChanged", path), "setWatches")
    # relativeZxid 0 would fire every watch whose node changed since the beginning, and an
    # exists watch on a node that now exists fires NodeCreated.
    back.set_watches(0, exist=[path])
    e = back.wait_event(10)
    check_eq((zkwire.EVENT_NAMES[e["type"]], e["path"]), ("NodeCreated", path), "exists watch")
    # A data watch on a node deleted meanwhile fires NodeDeleted.
    back.set_watches(back.last_zxid, data=[ROOT + "/never-there"])
    e = back.wait_event(10)
    check_eq(
        (zkwire.EVENT_NAMES[e["type"]], e["path"]),
        ("NodeDeleted", ROOT + "/never-there"),
        "data watch on a missing node",
    )
    back.close()
    observer.delete(path)


def session_moves_to_a_new_connection():
    """Resuming a live session on a second connection closes the first."""
    w = S.wire(timeout_ms=LONG_MS)
    w.create(ROOT + "/mover", b"", mode=zkwire.EPHEMERAL)
    second = w.resume()
    S.wires.append(second)
    check(w.wait_closed(10), "the server closes the session's previous connection")
    check(second.exists(ROOT + "/mover") is not None, "the session works on the new one")
    # A wrong password is refused and the session survives. (Apache 3.8 also closes the
    # session's live connection on such an attempt; zk-server deliberately does not, since
    # anyone who knows a session id could otherwise cut its owner off. Neither is checked.)
    try:
        zkwire.WireClient(S.hosts, session_id=second.session_id, passwd=b"\x01" * 16).connect()
        raise common.CheckFailed("a wrong password should be refused")
    except zkwire.SessionRefused:
        pass
    third = second.resume()
    S.wires.append(third)
    check(third.exists(ROOT + "/mover") is not None, "the session survived a wrong password")
    third.close()
    check_eq(observer.exists(ROOT + "/mover"), None, "closed")
    # A closed session cannot be resumed.
    try:
        third.resume()
        raise common.CheckFailed("resuming a closed session should be refused")
    except zkwire.SessionRefused:
        pass


def kazoo_reconnects_in_time():
    zk = S.client(session_timeout=LONG_MS / 1000.0)
    session = zk.client_id
    states = []
    zk.add_listener(lambda state: states.append(state))
    zk.create(ROOT + "/kazoo-eph", b"", ephemeral=True)
    # Break kazoo's TCP connection under it (kazoo's own tests do the same).
    zk._connection._socket.shutdown(socket.SHUT_RDWR)
    wait_until(lambda: KazooState.SUSPENDED in states, 10, "kazoo to notice the drop")
    wait_until(lambda: zk.state == KazooState.CONNECTED, 10, "kazoo to reconnect")
    check_eq(zk.client_id, session, "kazoo resumed the same session")
    check(KazooState.LOST not in states, "the session was never lost")
    check_eq(zk.exists(ROOT + "/kazoo-eph").ephemeralOwner, session[0], "ephemeral kept")
    zk.stop()
    zk.close()


def kazoo_sees_its_session_closed_elsewhere():
    zk = S.client(session_timeout=LONG_MS / 1000.0)
    lost = threading.Event()
    zk.add_listener(lambda state: lost.set() if state == KazooState.LOST else None)
    zk.create(ROOT + "/doomed", b"", ephemeral=True)
    session_id, passwd = zk.client_id
    # Another connection takes the session over and closes it.
    thief = zkwire.WireClient(S.hosts, session_id=session_id, passwd=passwd).connect()
    thief.close()
    check_eq(observer.exists(ROOT + "/doomed"), None, "the ephemeral went with the session")
    check(lost.wait(EXPIRY_WAIT), "kazoo reports LOST when it finds its session expired")
    zk.stop()
    zk.close()


def cleanup():
    observer.delete(ROOT, recursive=True)


S.run(
    [
        ("setup", setup),
        ("negotiated-timeouts", negotiated_timeouts),
        ("pings-keep-a-session", pings_keep_a_session),
        ("silent-client-expires", silent_client_expires),
        ("vanished-client-expires", vanished_client_expires),
        ("reconnect-in-time-keeps-session-and-watches", reconnect_in_time_keeps_session_and_watches),
        ("old-set-watches", old_set_watches),
        ("session-moves-to-a-new-connection", session_moves_to_a_new_connection),
        ("kazoo-reconnects-in-time", kazoo_reconnects_in_time),
        ("kazoo-sees-its-session-closed-elsewhere", kazoo_sees_its_session_closed_elsewhere),
        ("cleanup", cleanup),
    ]
)
