#!/usr/bin/python3
"""Watches: one-shot data/exists/child watches through kazoo (event types and paths, one
notification per trigger, across clients), then what kazoo 2.8 cannot do, on the wire with
zkwire: the order of a notification and the reply to the write that fired it, persistent and
persistent-recursive watches (addWatch), checkWatches and removeWatches.
"""

import sys

sys.dont_write_bytecode = True

import common  # noqa: E402
from common import EventLog, check, check_eq, quiet_period, wire_raises  # noqa: E402
import zkwire  # noqa: E402
from kazoo.protocol.states import EventType, KazooState  # noqa: E402
from kazoo.recipe.watchers import ChildrenWatch, DataWatch  # noqa: E402

S = common.Script(__doc__)
ROOT = "/bb-watches"
CONNECTED = "CONNECTED"  # kazoo's KeeperState.CONNECTED, the state of every server event

zk = S.client()
writer = S.client()


def setup():
    common.reset_root(zk, ROOT)


def data_watch():
    path = ROOT + "/data"
    zk.create(path, b"0")
    log = EventLog()
    zk.get(path, watch=log.watcher())
    writer.set(path, b"1")
    check_eq(log.wait_count(1), [(EventType.CHANGED, CONNECTED, path)], "data watch on setData")
    # One-shot: a second change without a new watch is not reported.
    writer.set(path, b"2")
    quiet_period()
    check_eq(len(log.events), 1, "a fired watch does not fire again")
    # A data watch fires NodeDeleted on delete.
    log.take()
    zk.get(path, watch=log.watcher())
    writer.delete(path)
    check_eq(log.wait_count(1), [(EventType.DELETED, CONNECTED, path)], "data watch on delete")
    log.take()
    # Creating a child is not a data change.
    zk.create(path, b"")
    zk.get(path, watch=log.watcher("second"))
    writer.create(path + "/kid", b"")
    writer.set(path + "/kid", b"x")
    quiet_period()
    check_eq(log.take(), [], "child changes do not fire a data watch")
    writer.set(path, b"now")
    check_eq(
        log.wait_count(1), [("second", EventType.CHANGED, CONNECTED, path)], "it is still armed"
    )
    writer.delete(path, recursive=True)


def exists_watch():
    path = ROOT + "/exists"
    log = EventLog()
    check_eq(zk.exists(path, watch=log.watcher()), None, "exists on a missing node")
    writer.create(path, b"")
    check_eq(log.wait_count(1), [(EventType.CREATED, CONNECTED, path)], "exists watch on create")
    log.take()
    check(zk.exists(path, watch=log.watcher()) is not None, "exists after create")
    writer.set(path, b"x")
    check_eq(log.wait_count(1), [(EventType.CHANGED, CONNECTED, path)], "exists watch on set")
    log.take()
    zk.exists(path, watch=log.watcher())
    writer.delete(path)
    check_eq(log.wait_count(1), [(EventType.DELETED, CONNECTED, path)], "exists watch on delete")
    # An exists watch left on a missing node fires when it appears, even much later.
    log.take()
    zk.exists(path, watch=log.watcher())
    writer.create(path + "-sibling", b"")
    quiet_period()
    check_eq(log.take(), [], "a sibling's creation does not fire it")
    writer.create(path, b"", ephemeral=True)
    check_eq(log.wait_count(1), [(EventType.CREATED, CONNECTED, path)], "fires on create")
    writer.delete(path)
    writer.delete(path + "-sibling")


def child_watch():
    parent = ROOT + "/parent"
    zk.create(parent, b"")
    log = EventLog()
    check_eq(zk.get_children(parent, watch=log.watcher()), [], "no children yet")
    writer.create(parent + "/a", b"")
    check_eq(log.wait_count(1), [(EventType.CHILD, CONNECTED, parent)], "child watch on create")
    log.take()
    zk.get_children(parent, watch=log.watcher())
    writer.set(parent + "/a", b"data")
    writer.set(parent, b"parent data")
    quiet_period()
    check_eq(log.take(), [], "data changes do not fire a child watch")
    writer.delete(parent + "/a")
    check_eq(log.wait_count(1), [(EventType.CHILD, CONNECTED, parent)], "child watch on delete")
    log.take()
    # getChildren2 (with stat) sets the same watch.
    zk.get_children(parent, watch=log.watcher(), include_data=True)
    writer.create(parent + "/b", b"", ephemeral=True)
    check_eq(log.wait_count(1), [(EventType.CHILD, CONNECTED, parent)], "getChildren2 watch")
    log.take()
    # A grandchild is not a child.
    writer.create(parent + "/c", b"")
    zk.get_children(parent, watch=log.watcher())
    writer.create(parent + "/c/grandchild", b"")
    quiet_period()
    check_eq(log.take(), [], "a grandchild does not fire the child watch")
    writer.delete(parent + "/c/grandchild")
    writer.delete(parent + "/c")
    check_eq(log.wait_count(1), [(EventType.CHILD, CONNECTED, parent)], "still armed")
    log.take()
    # Deleting the watched node itself fires the child watch with NodeDeleted.
    writer.delete(parent + "/b")
    zk.get_children(parent, watch=log.watcher())
    writer.delete(parent)
    check_eq(log.wait_count(1), [(EventType.DELETED, CONNECTED, parent)], "child watch on delete")


def ephemeral_owner_leaves():
    path = ROOT + "/eph"
    leaver = S.client()
    leaver.create(path, b"", ephemeral=True)
    log = EventLog()
    zk.exists(path, watch=log.watcher("exists"))
    zk.get_children(ROOT, watch=log.watcher("children"))
    leaver.stop()
    leaver.close()
    events = sorted(log.wait_count(2))
    check_eq(
        events,
        [("children", EventType.CHILD, CONNECTED, ROOT), ("exists", EventType.DELETED, CONNECTED, path)],
        "watches fired by the session's end",
    )


def recipes_watchers():
    """kazoo's DataWatch/ChildrenWatch re-arm their watch after each event."""
    path = ROOT + "/dw"
    seen = []
    kids = []
    DataWatch(zk, path, func=lambda data, stat: seen.append(data))
    common.wait_until(lambda: seen == [None], 10, "DataWatch's first call (node missing)")
    writer.create(path, b"a")
    common.wait_until(lambda: seen[-1:] == [b"a"], 10, "DataWatch after create")
    writer.set(path, b"b")
    common.wait_until(lambda: seen[-1:] == [b"b"], 10, "DataWatch after set")
    ChildrenWatch(zk, path, func=lambda children: kids.append(sorted(children)))
    common.wait_until(lambda: kids == [[]], 10, "ChildrenWatch's first call")
    writer.create(path + "/x", b"")
    common.wait_until(lambda: kids[-1:] == [["x"]], 10, "ChildrenWatch after a create")
    writer.create(path + "/y", b"")
    common.wait_until(lambda: kids[-1:] == [["x", "y"]], 10, "ChildrenWatch after a second")
    writer.delete(path, recursive=True)
    common.wait_until(lambda: seen[-1:] == [None], 10, "DataWatch after delete")


def events(w, settle=0.0):
    return [(zkwire.EVENT_NAMES[e["type"]], e["path"]) for e in w.drain_events(settle)]


def next_events(w, n, timeout=10.0):
    out = []
    for _ in range(n):
        e = w.wait_event(timeout)
        check_eq(e["state"], 3, "event state is SyncConnected")
        out.append((zkwire.EVENT_NAMES[e["type"]], e["path"]))
    return out


def wire_one_notification_per_trigger():
    w = S.wire()
    o = S.wire()
    path = ROOT + "/dedup"
    o.create(path, b"")
    # getData and exists watches on one node from one connection: one notification.
    w.get_data(path, watch=True)
    w.exists(path, watch=True)
    w.get_data(path, watch=True)
    o.set_data(path, b"x")
    check_eq(next_events(w, 1), [("NodeDataChanged", path)], "one event for three data watches")
    # Data and child watches on one node, node deleted: one NodeDeleted.
    w.get_data(path, watch=True)
    w.get_children(path, watch=True)
    o.delete(path)
    check_eq(next_events(w, 1), [("NodeDeleted", path)], "one NodeDeleted for data+child watch")
    quiet_period()
    check_eq(events(w), [], "no duplicate notification")
    # The notification for a change comes before the reply to the write that made it, when
    # the watcher and the writer are the same connection.
    o.create(path, b"")
    w.get_data(path, watch=True)
    del w.arrivals[:]
    w.set_data(path, b"own")
    check_eq(
        [a[0] for a in w.arrivals[:2]], ["event", "reply"], "notification before the write's reply"
    )
    check_eq(next_events(w, 1), [("NodeDataChanged", path)], "own write fires own watch")
    # A multi fires the watches of each op, in op order.
    w.exists(ROOT + "/m1", watch=True)
    w.exists(ROOT + "/m2", watch=True)
    w.get_data(path, watch=True)
    o.multi(
        [
            ("create", ROOT + "/m2", b"", None, 0),
            ("set", path, b"m", -1),
            ("create", ROOT + "/m1", b"", None, 0),
        ]
    )
    check_eq(
        next_events(w, 3),
        [("NodeCreated", ROOT + "/m2"), ("NodeDataChanged", path), ("NodeCreated", ROOT + "/m1")],
        "multi events in op order",
    )
    # A failed multi fires nothing.
    w.get_data(path, watch=True)
    results = o.multi([("set", path, b"no", -1), ("delete", ROOT + "/absent", -1)])
    check_eq(results[1]["err"], "NoNode", "the multi failed")
    quiet_period()
    check_eq(events(w), [], "a failed multi fires no watch")
    w.remove_watches(path, zkwire.WATCHER_ANY)
    for p in (ROOT + "/m1", ROOT + "/m2", path):
        o.delete(p)
    w.close()
    o.close()


def persistent_watch():
    w = S.wire()
    o = S.wire()
    path = ROOT + "/persistent"
    # A persistent watch may be set on a node that does not exist yet.
    w.add_watch(path, zkwire.ADD_WATCH_PERSISTENT)
    o.create(path, b"")
    o.set_data(path, b"1")
    o.set_data(path, b"2")
    o.create(path + "/kid", b"")
    o.set_data(path + "/kid", b"k")  # a child's data: not reported
    o.create(path + "/kid/grandkid", b"")  # a grandchild: not reported
    o.delete(path + "/kid/grandkid")
    o.delete(path + "/kid")
    o.delete(path)
    o.create(path, b"")  # it survives the node's deletion
    check_eq(
        next_events(w, 7),
        [
            ("NodeCreated", path),
            ("NodeDataChanged", path),
            ("NodeDataChanged", path),
            ("NodeChildrenChanged", path),
            ("NodeChildrenChanged", path),
            ("NodeDeleted", path),
            ("NodeCreated", path),
        ],
        "persistent watch events",
    )
    quiet_period()
    check_eq(events(w), [], "nothing else")
    # Adding it twice still gives one event per change.
    w.add_watch(path, zkwire.ADD_WATCH_PERSISTENT)
    o.set_data(path, b"3")
    check_eq(next_events(w, 1), [("NodeDataChanged", path)], "one event after adding twice")
    quiet_period()
    check_eq(events(w), [], "no duplicate")
    # checkWatches (type Any) sees it. (Types Data and Children on a persistent watch, and the
    # types Persistent/PersistentRecursive, differ between ZooKeeper 3.8.0 and later releases:
    # not checked here.)
    w.check_watches(path, zkwire.WATCHER_ANY)
    # Removing it (type Any): no notification is sent, and changes are no longer reported.
    w.remove_watches(path, zkwire.WATCHER_ANY)
    o.set_data(path, b"4")
    quiet_period()
    check_eq(events(w), [], "removed persistent watch")
    wire_raises("NoWatcher", w.check_watches, path, zkwire.WATCHER_ANY)
    o.delete(path)
    w.close()
    o.close()


def persistent_recursive_watch():
    w = S.wire()
    o = S.wire()
    path = ROOT + "/recursive"
    w.add_watch(path, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE)
    o.create(path, b"")
    o.set_data(path, b"1")
    o.create(path + "/a", b"")
    o.create(path + "/a/b", b"")
    o.set_data(path + "/a/b", b"deep")
    o.create(path + "-sibling", b"")  # a path with the watched path as a string prefix: no
    o.delete(path + "/a/b")
    o.delete(path + "/a")
    check_eq(
        next_events(w, 7),
        [
            ("NodeCreated", path),
            ("NodeDataChanged", path),
            ("NodeCreated", path + "/a"),
            ("NodeCreated", path + "/a/b"),
            ("NodeDataChanged", path + "/a/b"),
            ("NodeDeleted", path + "/a/b"),
            ("NodeDeleted", path + "/a"),
        ],
        "recursive watch events (no NodeChildrenChanged)",
    )
    quiet_period()
    check_eq(events(w), [], "nothing for the sibling, no child events")
    # A one-shot child watch on a node under a recursive watch adds its own event.
    w.get_children(path, watch=True)
    o.create(path + "/c", b"")
    check_eq(
        sorted(next_events(w, 2)),
        [("NodeChildrenChanged", path), ("NodeCreated", path + "/c")],
        "recursive plus one-shot child watch",
    )
    w.remove_watches(path, zkwire.WATCHER_ANY)
    o.delete(path + "/c")
    o.delete(path)
    o.delete(path + "-sibling")
    quiet_period()
    check_eq(events(w), [], "removed recursive watch")
    w.close()
    o.close()


def watch_removal():
    w = S.wire()
    o = S.wire()
    path = ROOT + "/removal"
    o.create(path, b"")
    wire_raises("NoWatcher", w.check_watches, path, zkwire.WATCHER_DATA)
    wire_raises("NoWatcher", w.remove_watches, path, zkwire.WATCHER_DATA)
    wire_raises("NoWatcher", w.remove_watches, ROOT + "/no-such-node", zkwire.WATCHER_ANY)
    w.get_data(path, watch=True)
    w.check_watches(path, zkwire.WATCHER_DATA)
    wire_raises("NoWatcher", w.check_watches, path, zkwire.WATCHER_CHILDREN)
    wire_raises("NoWatcher", w.remove_watches, path, zkwire.WATCHER_CHILDREN)
    w.remove_watches(path, zkwire.WATCHER_DATA)
    wire_raises("NoWatcher", w.check_watches, path, zkwire.WATCHER_DATA)
    o.set_data(path, b"x")
    quiet_period()
    check_eq(events(w), [], "a removed data watch does not fire (and the server sends nothing)")
    # Child watch removal leaves the data watch.
    w.get_data(path, watch=True)
    w.get_children(path, watch=True)
    w.remove_watches(path, zkwire.WATCHER_CHILDREN)
    o.create(path + "/kid", b"")
    o.set_data(path, b"y")
    check_eq(next_events(w, 1), [("NodeDataChanged", path)], "the data watch remains")
    quiet_period()
    check_eq(events(w), [], "the child watch is gone")
    # An exists watch on a missing node is a data watch for removal purposes.
    w.exists(ROOT + "/not-yet", watch=True)
    w.check_watches(ROOT + "/not-yet", zkwire.WATCHER_DATA)
    w.remove_watches(ROOT + "/not-yet", zkwire.WATCHER_ANY)
    o.create(ROOT + "/not-yet", b"")
    quiet_period()
    check_eq(events(w), [], "removed exists watch")
    # One connection's removal leaves another connection's watch.
    w.get_data(path, watch=True)
    o.get_data(path, watch=True)
    w.remove_watches(path, zkwire.WATCHER_DATA)
    w.set_data(path, b"z")
    check_eq(next_events(o, 1), [("NodeDataChanged", path)], "the other connection's watch")
    quiet_period()
    check_eq(events(w), [], "not ours")
    o.delete(path + "/kid")
    o.delete(path)
    o.delete(ROOT + "/not-yet")
    w.close()
    o.close()


def cleanup():
    check_eq(zk.state, KazooState.CONNECTED, "the kazoo client stayed connected")
    zk.delete(ROOT, recursive=True)


S.run(
    [
        ("setup", setup),
        ("data-watch", data_watch),
        ("exists-watch", exists_watch),
        ("child-watch", child_watch),
        ("ephemeral-owner-leaves", ephemeral_owner_leaves),
        ("recipe-watchers", recipes_watchers),
        ("wire-one-notification-per-trigger", wire_one_notification_per_trigger),
        ("persistent-watch", persistent_watch),
        ("persistent-recursive-watch", persistent_recursive_watch),
        ("watch-removal", watch_removal),
        ("cleanup", cleanup),
    ]
)
