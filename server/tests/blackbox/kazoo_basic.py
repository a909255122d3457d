#!/usr/bin/python3
"""Basic znode semantics through kazoo (and zkwire where kazoo 2.8 has no API).

CRUD, stats, versions; BadVersion/NoNode/NodeExists/NotEmpty/NoChildrenForEphemerals errors;
sequential nodes; ephemeral, container and TTL nodes; multi (transactions) with per-op results;
sync; getChildren with stat; getAllChildrenNumber, getEphemerals, whoAmI (kazoo 2.8 lacks them:
done with zkwire on the wire).

The server must run with extendedTypesEnabled=true and a short
znode.container.checkIntervalMs (the Rust test uses 200 ms); --no-extended-types checks instead
that TTL nodes are refused.
"""

import sys

sys.dont_write_bytecode = True

import common  # noqa: E402
from common import check, check_eq, raises, wait_until, wire_raises  # noqa: E402
import zkwire  # noqa: E402
from kazoo.security import OPEN_ACL_UNSAFE  # noqa: E402
from kazoo.exceptions import (  # noqa: E402
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)

S = common.Script(
    __doc__,
    lambda p: p.add_argument(
        "--no-extended-types",
        action="store_true",
        help="the server runs without extendedTypesEnabled: check that TTL nodes are refused",
    ),
)
ROOT = "/bb-basic"
# How long containers and TTL nodes may take to go (the check interval is 200 ms in the tests).
EXPIRY_WAIT = 15.0
extended = not S.args.no_extended_types

zk = S.client()
other = S.client()


def stat_shape(stat):
    """The fields that do not depend on zxids or clocks."""
    return {
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "dataLength": stat.dataLength,
        "numChildren": stat.numChildren,
        "ephemeralOwner": stat.ephemeralOwner,
    }


def setup():
    common.reset_root(zk, ROOT)


def crud_and_stats():
    path = ROOT + "/node"
    check_eq(zk.create(path, b"v1"), path, "create returns the path")
    data, stat = zk.get(path)
    check_eq(data, b"v1", "data after create")
    check_eq(
        stat_shape(stat),
        {
            "version": 0,
            "cversion": 0,
            "aversion": 0,
            "dataLength": 2,
            "numChildren": 0,
            "ephemeralOwner": 0,
        },
        "stat after create",
    )
    check(stat.czxid > 0, "czxid is positive")
    check_eq(stat.mzxid, stat.czxid, "mzxid == czxid for a new node")
    check_eq(stat.pzxid, stat.czxid, "pzxid == czxid for a new leaf")
    check_eq(stat.mtime, stat.ctime, "mtime == ctime for a new node")
    check(stat.ctime > 1_500_000_000_000, "ctime is milliseconds since the epoch")

    stat1 = zk.set(path, b"value-two")
    check_eq(stat1.version, 1, "version after one set")
    check_eq(stat1.dataLength, 9, "dataLength after set")
    check(stat1.mzxid > stat.mzxid, "mzxid grows on set")
    check_eq(stat1.czxid, stat.czxid, "czxid unchanged by set")
    check(stat1.mtime >= stat.mtime, "mtime does not go back")
    check_eq(zk.exists(path), stat1, "exists returns the same stat as set")

    stat2 = zk.set(path, b"v3", version=1)
    check_eq(stat2.version, 2, "conditional set with the right version")
    raises(BadVersionError, zk.set, path, b"v4", version=1)
    raises(BadVersionError, zk.set, path, b"v4", version=7)
    check_eq(zk.get(path)[0], b"v3", "a failed set changes nothing")
    raises(BadVersionError, zk.delete, path, version=0)
    zk.delete(path, version=2)
    check_eq(zk.exists(path), None, "exists after delete")

    # Setting identical data still bumps the version.
    zk.create(path, b"same")
    check_eq(zk.set(path, b"same").version, 1, "version after setting identical data")
    zk.delete(path)

    # version -1 means any version.
    zk.create(path, b"")
    zk.set(path, b"a")
    zk.set(path, b"b")
    check_eq(zk.set(path, b"c", version=-1).version, 3, "set with version -1")
    zk.delete(path, version=-1)


def empty_and_null_data():
    empty = ROOT + "/empty"
    null = ROOT + "/null"
    zk.create(empty, b"")
    zk.create(null, None)
    data, stat = zk.get(empty)
    check_eq(data, b"", "empty data reads back empty")
    check_eq(stat.dataLength, 0, "dataLength of empty data")
    data, stat = zk.get(null)
    check_eq(data, None, "null data reads back null (length -1 on the wire)")
    check_eq(stat.dataLength, 0, "dataLength of null data")
    zk.set(null, b"x")
    zk.set(null, None)
    check_eq(zk.get(null)[0], None, "set to null reads back null")
    big = bytes(range(256)) * 2048  # 512 KiB, under the 1 MiB frame limit
    zk.set(empty, big)
    data, stat = zk.get(empty)
    check_eq(len(data), len(big), "large data length")
    check(data == big, "large data reads back byte for byte")
    check_eq(stat.dataLength, len(big), "dataLength of large data")
    zk.delete(empty)
    zk.delete(null)


def errors():
    missing = ROOT + "/missing"
    raises(NoNodeError, zk.get, missing)
    raises(NoNodeError, zk.set, missing, b"x")
    raises(NoNodeError, zk.delete, missing)
    raises(NoNodeError, zk.get_children, missing)
    raises(NoNodeError, zk.get_acls, missing)
    raises(NoNodeError, zk.set_acls, missing, list(OPEN_ACL_UNSAFE))
    # The ACL is checked before the node is looked up.
    raises(InvalidACLError, zk.set_acls, missing, [])
    raises(NoNodeError, zk.create, missing + "/child", b"")
    check_eq(zk.exists(missing), None, "exists of a missing node is None, not an error")

    dup = ROOT + "/dup"
    zk.create(dup, b"")
    raises(NodeExistsError, zk.create, dup, b"")
    raises(NodeExistsError, zk.create, dup, b"", ephemeral=True)

    zk.create(dup + "/kid", b"")
    raises(NotEmptyError, zk.delete, dup)
    # A versioned delete of a non-empty node: the version is checked first.
    raises(BadVersionError, zk.delete, dup, version=5)
    raises(NotEmptyError, zk.delete, dup, version=0)
    zk.delete(dup + "/kid")
    zk.delete(dup)

    # Malformed paths, sent as they are (kazoo would normalise some of them first). ZooKeeper
    # refuses a path without '/' or with a NUL at once, then looks the parent up (NoNode), and
    # only then validates the whole path (BadArguments).
    w = S.wire()
    for bad in ("relative", "", ROOT + "/nul\x00byte", ROOT + "/", "//double", ROOT + "/."):
        wire_raises("BadArguments", w.create, bad, b"")
    for parent_missing in (ROOT + "/trailing/", ROOT + "//double", ROOT + "/./x", ROOT + "/a/../b"):
        wire_raises("NoNode", w.create, parent_missing, b"")
    # With the sequential flag, a trailing '/' is completed by the suffix.
    path, _ = w.create(ROOT + "/", b"", mode=zkwire.PERSISTENT_SEQUENTIAL)
    check(path.startswith(ROOT + "/00000000"), "a sequential create of ROOT/ gives %r" % path)
    w.delete(path)
    # Reads do not validate paths: a malformed path is just not there.
    wire_raises("NoNode", w.get_data, ROOT + "/trailing/")
    w.close()
    # The root and the /zookeeper subtree cannot be deleted.
    raises(BadArgumentsError, zk.delete, "/")
    raises(BadArgumentsError, zk.delete, "/zookeeper")
    raises(BadArgumentsError, zk.delete, "/zookeeper/quota")


def sequential():
    parent = ROOT + "/seq"
    zk.create(parent, b"")
    first = zk.create(parent + "/c", sequence=True)
    check_eq(first, parent + "/c0000000000", "first sequential child")
    check_eq(zk.exists(parent).cversion, 1, "parent cversion after one create")
    zk.delete(first)
    check_eq(zk.exists(parent).cversion, 2, "parent cversion after create + delete")
    second = zk.create(parent + "/c", sequence=True)
    # The suffix counts creates under the parent (deletes do not advance it), while the
    # cversion a client reads counts creates and deletes: 2 * creates - live children.
    check_eq(second, parent + "/c0000000001", "second sequential child after a delete")
    check_eq(zk.exists(parent).cversion, 3, "parent cversion after create, delete, create")

    # Every create under the parent advances the counter, sequential or not, whatever the prefix.
    zk.create(parent + "/plain", b"")
    check_eq(
        zk.create(parent + "/other-", sequence=True),
        parent + "/other-0000000003",
        "a plain create advances the sequence",
    )
    # A parent path ending in '/' gives a bare number as the name.
    check_eq(zk.create(parent + "/", sequence=True), parent + "/0000000004", "bare sequence")
    eseq = zk.create(parent + "/e-", ephemeral=True, sequence=True)
    check_eq(eseq, parent + "/e-0000000005", "ephemeral sequential")
    check_eq(zk.exists(eseq).ephemeralOwner, zk.client_id[0], "ephemeral sequential owner")
    # A failed create does not advance the counter.
    raises(NodeExistsError, zk.create, parent + "/plain", b"")
    check_eq(
        zk.create(parent + "/c", sequence=True), parent + "/c0000000006", "after a failed create"
    )
    # create2 (include_data) returns the stat of the new node.
    path, stat = zk.create(parent + "/d", b"xyz", sequence=True, include_data=True)
    check_eq(path, parent + "/d0000000007", "create2 sequential path")
    check_eq(stat.dataLength, 3, "create2 stat dataLength")
    check_eq(stat.version, 0, "create2 stat version")
    zk.delete(parent, recursive=True)


def parent_stats():
    parent = ROOT + "/parent"
    zk.create(parent, b"p")
    before = zk.exists(parent)
    _, child = zk.create(parent + "/a", b"", include_data=True)
    after = zk.exists(parent)
    check_eq(after.numChildren, 1, "numChildren after one create")
    check_eq(after.cversion, 1, "cversion after one create")
    check_eq(after.pzxid, child.czxid, "parent pzxid == child czxid")
    check_eq(after.version, before.version, "a child create leaves the parent's data version")
    check_eq(after.mzxid, before.mzxid, "a child create leaves the parent's mzxid")
    zk.set(parent + "/a", b"changed")
    check_eq(zk.exists(parent).pzxid, child.czxid, "a child's setData leaves the parent's pzxid")
    zk.create(parent + "/b", b"")
    zk.delete(parent + "/a")
    final = zk.exists(parent)
    check_eq(final.numChildren, 1, "numChildren after create, create, delete")
    check_eq(final.cversion, 3, "cversion after create, create, delete")
    check(final.pzxid > after.pzxid, "pzxid moves on delete")
    children, stat = zk.get_children(parent, include_data=True)
    check_eq(sorted(children), ["b"], "getChildren2 children")
    check_eq(stat, final, "getChildren2 stat equals exists stat")
    zk.delete(parent, recursive=True)


def get_children():
    parent = ROOT + "/kids"
    zk.create(parent, b"")
    names = ["n%02d" % i for i in range(25)] + ["ünïcødé", "with space", "dot.name"]
    for name in names:
        zk.create(parent + "/" + name, b"")
    check_eq(sorted(zk.get_children(parent)), sorted(names), "getChildren (order is not defined)")
    check_eq(zk.get_children(parent + "/n00"), [], "children of a leaf")
    children, stat = zk.get_children(parent, include_data=True)
    check_eq(stat.numChildren, len(names), "numChildren from getChildren2")
    check_eq(len(children), len(names), "children from getChildren2")
    w = S.wire()
    check_eq(w.get_all_children_number(parent), len(names), "getAllChildrenNumber")
    zk.create(parent + "/n00/deeper", b"")
    zk.create(parent + "/n00/deeper/deepest", b"")
    check_eq(w.get_all_children_number(parent), len(names) + 2, "getAllChildrenNumber counts all")
    check_eq(w.get_all_children_number(parent + "/n01"), 0, "getAllChildrenNumber of a leaf")
    wire_raises("NoNode", w.get_all_children_number, ROOT + "/nothing")
    zk.delete(parent, recursive=True)


def zookeeper_subtree():
    check_eq(sorted(zk.get_children("/zookeeper")), ["config", "quota"], "/zookeeper children")
    data, _stat = zk.get("/zookeeper/config")
    check_eq(data, b"", "standalone /zookeeper/config is empty")
    acl, _ = zk.get_acls("/zookeeper/config")
    check_eq([(a.perms, a.id.scheme, a.id.id) for a in acl], [(1, "world", "anyone")], "config ACL")
    root = zk.exists("/")
    check_eq((root.czxid, root.ctime, root.ephemeralOwner), (0, 0, 0), "root stat")


def ephemeral():
    path = ROOT + "/eph"
    zk.create(path, b"mine", ephemeral=True)
    stat = zk.exists(path)
    check_eq(stat.ephemeralOwner, zk.client_id[0], "ephemeralOwner is the session id")
    raises(NoChildrenForEphemeralsError, zk.create, path + "/child", b"")
    raises(NoChildrenForEphemeralsError, zk.create, path + "/child", b"", ephemeral=True)
    # Another session's ephemeral goes when that session closes.
    third = S.client()
    theirs = ROOT + "/theirs"
    third.create(theirs, b"", ephemeral=True)
    check_eq(other.exists(theirs).ephemeralOwner, third.client_id[0], "owner seen by others")
    third.stop()
    third.close()
    check_eq(other.exists(theirs), None, "an ephemeral is gone once its session closed")
    # getEphemerals: the session's own ephemerals whose path starts with the prefix (a string
    # prefix, not a path component).
    w = S.wire()
    w.create(ROOT + "/w-eph1", b"", mode=zkwire.EPHEMERAL)
    w.create(ROOT + "/w-eph2", b"", mode=zkwire.EPHEMERAL)
    w.create(ROOT + "/w-persistent", b"")
    check_eq(
        sorted(w.get_ephemerals(ROOT + "/w-eph")),
        [ROOT + "/w-eph1", ROOT + "/w-eph2"],
        "getEphemerals by prefix",
    )
    check_eq(
        sorted(w.get_ephemerals(ROOT + "/w")),
        [ROOT + "/w-eph1", ROOT + "/w-eph2"],
        "getEphemerals: a string prefix",
    )
    check_eq(sorted(w.get_ephemerals("/")), [ROOT + "/w-eph1", ROOT + "/w-eph2"], "all of them")
    check_eq(w.get_ephemerals(ROOT + "/none"), [], "getEphemerals with no match")
    w.close()
    check_eq(zk.exists(ROOT + "/w-eph1"), None, "wire ephemeral gone after closeSession")
    zk.delete(ROOT + "/w-persistent")
    zk.delete(path)


def who_am_i():
    w = S.wire()
    check_eq(w.who_am_i(), [("ip", "127.0.0.1")], "whoAmI of an unauthenticated client")
    w.add_auth("digest", "alice:secret")
    check_eq(
        sorted(w.who_am_i()),
        [("digest", "alice"), ("ip", "127.0.0.1")],
        "whoAmI after digest auth",
    )
    w.close()


def container():
    w = S.wire()
    used = ROOT + "/container-used"
    never = ROOT + "/container-never-used"
    path, stat = w.create(used, b"c", mode=zkwire.CONTAINER)
    check_eq(path, used, "createContainer path")
    check_eq(stat["ephemeralOwner"], 0, "a container reports ephemeralOwner 0")
    w.create(never, b"", mode=zkwire.CONTAINER)
    zk.create(used + "/child", b"")
    check_eq(zk.exists(used).numChildren, 1, "container with a child")
    zk.delete(used + "/child")
    wait_until(lambda: zk.exists(used) is None, EXPIRY_WAIT, "the emptied container to go")
    # A second container used and emptied after `never` was created: once it is gone, the
    # checker has looked at `never` at least once and must have kept it (a container that never
    # had a child stays).
    second = ROOT + "/container-second"
    w.create(second, b"", mode=zkwire.CONTAINER)
    zk.create(second + "/x", b"")
    zk.delete(second + "/x")
    wait_until(lambda: zk.exists(second) is None, EXPIRY_WAIT, "the second container to go")
    check(zk.exists(never) is not None, "a container that never had children is kept")
    # Containers hold ephemeral and sequential children like any node.
    zk.create(never + "/e", b"", ephemeral=True)
    zk.delete(never + "/e")
    wait_until(lambda: zk.exists(never) is None, EXPIRY_WAIT, "the third container to go")
    # Container creation through a multi.
    results = w.multi([("create_container", ROOT + "/container-multi", b"")])
    check_eq([r["op"] for r in results], ["create2"], "multi createContainer result type")
    zk.delete(ROOT + "/container-multi")
    w.close()


def ttl():
    w = S.wire()
    short = ROOT + "/ttl-short"
    if not extended:
        wire_raises("Unimplemented", w.create, short, b"", mode=zkwire.PERSISTENT_WITH_TTL, ttl=500)
        w.close()
        return
    path, stat = w.create(short, b"t", mode=zkwire.PERSISTENT_WITH_TTL, ttl=300)
    check_eq(path, short, "createTTL path")
    check_eq(stat["ephemeralOwner"], 0, "a TTL node reports ephemeralOwner 0")
    long_lived = ROOT + "/ttl-long"
    w.create(long_lived, b"", mode=zkwire.PERSISTENT_WITH_TTL, ttl=3_600_000)
    seq, _ = w.create(ROOT + "/ttl-seq-", b"", mode=zkwire.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=300)
    check(seq.startswith(ROOT + "/ttl-seq-") and len(seq) == len(ROOT + "/ttl-seq-") + 10, seq)
    # A TTL node with a child is not removed while the child exists.
    parent = ROOT + "/ttl-parent"
    w.create(parent, b"", mode=zkwire.PERSISTENT_WITH_TTL, ttl=300)
    zk.create(parent + "/kid", b"")
    wait_until(lambda: zk.exists(short) is None, EXPIRY_WAIT, "the TTL node to expire")
    wait_until(lambda: zk.exists(seq) is None, EXPIRY_WAIT, "the sequential TTL node to expire")
    check(zk.exists(long_lived) is not None, "a TTL node within its TTL stays")
    check(zk.exists(parent) is not None, "a TTL node with children stays")
    zk.delete(parent + "/kid")
    wait_until(lambda: zk.exists(parent) is None, EXPIRY_WAIT, "the emptied TTL node to expire")
    # Bad TTLs and modes.
    wire_raises("BadArguments", w.create, ROOT + "/t0", b"", mode=zkwire.PERSISTENT_WITH_TTL, ttl=0)
    wire_raises("BadArguments", w.create, ROOT + "/t-", b"", mode=zkwire.PERSISTENT_WITH_TTL, ttl=-5)
    wire_raises(
        "BadArguments", w.create, ROOT + "/tm", b"", mode=zkwire.EPHEMERAL, op=zkwire.OP_CREATE_TTL,
        ttl=1000,
    )
    wire_raises(
        "BadArguments", w.create, ROOT + "/tc", b"", mode=zkwire.PERSISTENT_WITH_TTL,
        op=zkwire.OP_CREATE2,
    )
    zk.delete(long_lived)
    w.close()


def multi():
    base = ROOT + "/multi"
    zk.create(base, b"")
    zk.create(base + "/existing", b"old")
    t = zk.transaction()
    t.create(base + "/new", b"n")
    t.set_data(base + "/existing", b"new", version=0)
    t.check(base + "/existing", 1)
    t.create(base + "/seq-", b"", sequence=True)
    t.delete(base + "/new")
    results = t.commit()
    check_eq(len(results), 5, "five results")
    check_eq(results[0], base + "/new", "multi create result")
    check_eq(results[1].version, 1, "multi setData result stat")
    check_eq(results[2], True, "multi check result")
    check_eq(results[3], base + "/seq-0000000002", "multi sequential create")
    check_eq(results[4], True, "multi delete result")
    check_eq(zk.get(base + "/existing")[0], b"new", "multi applied")

    # A failing multi applies nothing: earlier ops roll back, later ones are not attempted.
    t = zk.transaction()
    t.create(base + "/never", b"")
    t.set_data(base + "/existing", b"newer", version=0)  # BadVersion: it is at version 1
    t.delete(base + "/existing")
    results = t.commit()
    check_eq(
        [type(r) for r in results],
        [RolledBackError, BadVersionError, RuntimeInconsistency],
        "per-op results of a failed multi",
    )
    check_eq(zk.exists(base + "/never"), None, "nothing applied")
    check_eq(zk.get(base + "/existing")[0], b"new", "data untouched")

    t = zk.transaction()
    t.check(base + "/absent", 0)
    t.create(base + "/x", b"")
    results = t.commit()
    check_eq([type(r) for r in results], [NoNodeError, RuntimeInconsistency], "check on a missing node")

    # Ops in a multi see the effects of the ones before them.
    t = zk.transaction()
    t.create(base + "/p", b"")
    t.create(base + "/p/q", b"")
    t.set_data(base + "/p/q", b"1")
    t.set_data(base + "/p/q", b"2", version=1)
    t.delete(base + "/p/q", version=2)
    results = t.commit()
    check_eq(results[:2], [base + "/p", base + "/p/q"], "creates in order")
    check_eq([results[2].version, results[3].version], [1, 2], "sets see each other")
    check_eq(sorted(zk.get_children(base + "/p")), [], "delete applied")

    # The same through the wire client, which shows the raw per-op error codes.
    w = S.wire()
    results = w.multi(
        [
            ("create", base + "/w1", b"", None, 0),
            ("delete", base + "/nothing-here", -1),
            ("set", base + "/existing", b"", -1),
        ]
    )
    check_eq(
        [(r["op"], r["err"]) for r in results],
        [("error", "Ok"), ("error", "NoNode"), ("error", "RuntimeInconsistency")],
        "wire multi failure results",
    )
    check_eq(w.multi([]), [], "an empty multi")
    results = w.multi(
        [("get_data", base + "/existing"), ("get_children", base + "/nothing"), ("get_children", base)],
        read=True,
    )
    check_eq(results[0]["data"], b"new", "multiRead getData")
    check_eq(results[1], {"op": "error", "err": "NoNode"}, "multiRead failure stands alone")
    check_eq(
        sorted(results[2]["children"]), ["existing", "p", "seq-0000000002"], "multiRead getChildren"
    )
    w.close()
    zk.delete(base, recursive=True)


def sync():
    check_eq(zk.sync(ROOT), ROOT, "sync returns the path")
    # sync does not look at the tree: a missing path is fine.
    check_eq(zk.sync(ROOT + "/missing"), ROOT + "/missing", "sync of a missing path")


def cleanup():
    zk.delete(ROOT, recursive=True)


steps = [
    ("setup", setup),
    ("crud-and-stats", crud_and_stats),
    ("empty-and-null-data", empty_and_null_data),
    ("errors", errors),
    ("sequential", sequential),
    ("parent-stats", parent_stats),
    ("get-children", get_children),
    ("zookeeper-subtree", zookeeper_subtree),
    ("ephemeral", ephemeral),
    ("who-am-i", who_am_i),
    ("container", container),
    ("ttl", ttl),
    ("multi", multi),
    ("sync", sync),
    ("cleanup", cleanup),
]
if not extended:
    steps = [("setup", setup), ("ttl-disabled", ttl), ("cleanup", cleanup)]
S.run(steps)
