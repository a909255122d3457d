#!/usr/bin/python3
"""ACLs: digest authentication (add_auth, make_digest_acl), the world, ip and auth schemes,
which permission each operation needs (and on which node), NoAuth/InvalidACL/AuthFailed
errors, the order in which ZooKeeper checks them, setACL versions, and the super digest.

The server must be configured with
DigestAuthenticationProvider.superDigest=super:AaO9nBOv+DJFv92R9NUZrTXjqLc= (the digest of
super:test-super-secret; --super-credential changes the credential this script uses).
"""

import sys

sys.dont_write_bytecode = True

import common  # noqa: E402
from common import check, check_eq, raises, wire_raises  # noqa: E402
from kazoo.exceptions import (  # noqa: E402
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
)
from kazoo.security import (  # noqa: E402
    ACL,
    CREATOR_ALL_ACL,
    Id,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

S = common.Script(
    __doc__,
    lambda p: p.add_argument("--super-credential", default="super:test-super-secret"),
)
ROOT = "/bb-acl"

alice = S.client()
alice.add_auth("digest", "alice:alice-pw")
anonymous = S.client()
bob = S.client()
bob.add_auth("digest", "bob:bob-pw")
superuser = S.client()
superuser.add_auth("digest", S.args.super_credential)


def acl_tuples(acls):
    return [(a.perms, a.id.scheme, a.id.id) for a in acls]


def world(perms):
    return [ACL(perms, Id("world", "anyone"))]


def remove(path):
    """Deletes a subtree as the super user (it may hold nodes nobody else can list)."""
    try:
        superuser.delete(path, recursive=True)
    except NoAuthError:
        raise common.CheckFailed(
            "the super user cannot delete %s: is DigestAuthenticationProvider.superDigest set "
            "to the digest of %s?" % (path, S.args.super_credential)
        )


def setup():
    if superuser.exists(ROOT):
        remove(ROOT)
    superuser.create(ROOT, b"")


def digest():
    path = ROOT + "/alice-only"
    acl = [make_digest_acl("alice", "alice-pw", all=True)]
    alice.create(path, b"secret", acl=acl)
    stored, stat = alice.get_acls(path)
    check_eq(
        acl_tuples(stored),
        [(Permissions.ALL, "digest", make_digest_acl_credential("alice", "alice-pw"))],
        "the stored digest ACL",
    )
    check_eq(stat.aversion, 0, "aversion of a new node")
    check_eq(alice.get(path)[0], b"secret", "the owner reads")
    for client, who in ((anonymous, "anonymous"), (bob, "bob")):
        raises(NoAuthError, client.get, path)
        raises(NoAuthError, client.set, path, b"x")
        raises(NoAuthError, client.get_children, path)
        raises(NoAuthError, client.get_acls, path)
        raises(NoAuthError, client.set_acls, path, OPEN_ACL_UNSAFE)
        raises(NoAuthError, client.create, path + "/child", b"")
        check(client.exists(path) is not None, "exists needs no permission (%s)" % who)
    # A wrong password authenticates (as a different digest) but does not match.
    wrong = S.client()
    wrong.add_auth("digest", "alice:not-the-password")
    raises(NoAuthError, wrong.get, path)
    # Authenticating later in the session is enough.
    late = S.client()
    raises(NoAuthError, late.get, path)
    late.add_auth("digest", "alice:alice-pw")
    check_eq(late.get(path)[0], b"secret", "after a late add_auth")
    # A session may hold several identities; any one that matches is enough.
    both = S.client()
    both.add_auth("digest", "bob:bob-pw")
    both.add_auth("digest", "alice:alice-pw")
    check_eq(both.get(path)[0], b"secret", "the second identity matches")
    # Deleting needs DELETE on the parent, not on the node: ROOT is open, so anyone may.
    anonymous.delete(path)
    check_eq(alice.exists(path), None, "deleted through the parent's permission")


def permissions_per_operation():
    base = ROOT + "/perms"
    alice.create(base, b"", acl=OPEN_ACL_UNSAFE)
    # READ only.
    alice.create(base + "/ro", b"r", acl=READ_ACL_UNSAFE)
    check_eq(anonymous.get(base + "/ro")[0], b"r", "READ allows getData")
    check_eq(anonymous.get_children(base + "/ro"), [], "READ allows getChildren")
    check_eq(acl_tuples(anonymous.get_acls(base + "/ro")[0]), [(1, "world", "anyone")], "getACL")
    raises(NoAuthError, anonymous.set, base + "/ro", b"x")
    raises(NoAuthError, anonymous.create, base + "/ro/kid", b"")
    raises(NoAuthError, anonymous.set_acls, base + "/ro", OPEN_ACL_UNSAFE)
    # CREATE only on a parent: children can be created but not listed or deleted.
    alice.create(base + "/create-only", b"", acl=world(Permissions.CREATE))
    anonymous.create(base + "/create-only/kid", b"")
    raises(NoAuthError, anonymous.get_children, base + "/create-only")
    raises(NoAuthError, anonymous.delete, base + "/create-only/kid")
    check_eq(anonymous.get(base + "/create-only/kid")[0], b"", "the child itself is open")
    # DELETE only on a parent.
    alice.create(base + "/delete-only", b"", acl=world(Permissions.DELETE | Permissions.ADMIN))
    raises(NoAuthError, anonymous.create, base + "/delete-only/kid", b"")
    alice.set_acls(base + "/delete-only", world(Permissions.CREATE | Permissions.DELETE))
    anonymous.create(base + "/delete-only/kid", b"")
    anonymous.delete(base + "/delete-only/kid")
    # WRITE only.
    alice.create(base + "/write-only", b"", acl=world(Permissions.WRITE))
    check_eq(anonymous.set(base + "/write-only", b"w").version, 1, "WRITE allows setData")
    raises(NoAuthError, anonymous.get, base + "/write-only")
    # ADMIN only: getACL works with READ or ADMIN; setACL needs ADMIN.
    alice.create(base + "/admin-only", b"", acl=world(Permissions.ADMIN))
    check_eq(
        acl_tuples(anonymous.get_acls(base + "/admin-only")[0]),
        [(Permissions.ADMIN, "world", "anyone")],
        "ADMIN allows getACL",
    )
    raises(NoAuthError, anonymous.get, base + "/admin-only")
    anonymous.set_acls(base + "/admin-only", OPEN_ACL_UNSAFE)
    check_eq(anonymous.get(base + "/admin-only")[0], b"", "after setACL to open")
    # Permission bits outside ALL are kept as given; 0 is a valid (useless) permission set.
    alice.create(base + "/perms-99", b"", acl=world(99))
    check_eq(acl_tuples(alice.get_acls(base + "/perms-99")[0]), [(99, "world", "anyone")], "99")
    alice.create(base + "/perms-0", b"", acl=world(0))
    raises(NoAuthError, anonymous.get, base + "/perms-0")
    # Several entries: the union of what they grant.
    alice.create(
        base + "/mixed",
        b"m",
        acl=[make_acl("world", "anyone", read=True), make_digest_acl("bob", "bob-pw", write=True)],
    )
    check_eq(anonymous.get(base + "/mixed")[0], b"m", "world READ entry")
    raises(NoAuthError, anonymous.set, base + "/mixed", b"x")
    bob.set(base + "/mixed", b"by bob")
    # Reads of a node the client may not read, through multiRead, fail op by op.
    w = S.wire()
    results = w.multi([("get_data", base + "/perms-0"), ("get_data", base + "/mixed")], read=True)
    check_eq(results[0], {"op": "error", "err": "NoAuth"}, "multiRead NoAuth result")
    check_eq(results[1]["data"], b"by bob", "multiRead next op")
    # getAllChildrenNumber needs READ.
    wire_raises("NoAuth", w.get_all_children_number, base + "/perms-0")
    w.close()
    remove(base)


def check_order():
    """Which error wins when several apply (ZooKeeper's order, which clients can observe)."""
    base = ROOT + "/order"
    alice.create(base, b"", acl=OPEN_ACL_UNSAFE)
    alice.create(base + "/ro", b"", acl=READ_ACL_UNSAFE)
    w = S.wire()
    # create: InvalidACL before NoNode (the ACL is checked before the parent is looked up).
    wire_raises("InvalidACL", w.create, base + "/missing/x", b"", acl=[(31, "nosuch", "x")])
    # create: NoAuth on the parent before NodeExists.
    wire_raises("NoAuth", w.create, base + "/ro/kid", b"")
    alice.create(base + "/ro2", b"", acl=OPEN_ACL_UNSAFE)
    alice.create(base + "/ro2/kid", b"")
    alice.set_acls(base + "/ro2", READ_ACL_UNSAFE)
    wire_raises("NoAuth", w.create, base + "/ro2/kid", b"")
    # setData: NoAuth before BadVersion.
    wire_raises("NoAuth", w.set_data, base + "/ro", b"x", 5)
    # delete: the parent's DELETE permission before the node's existence.
    alice.create(base + "/no-delete", b"", acl=world(Permissions.READ | Permissions.CREATE))
    wire_raises("NoAuth", w.delete, base + "/no-delete/absent")
    # delete: BadVersion before NotEmpty.
    alice.create(base + "/full", b"")
    alice.create(base + "/full/kid", b"")
    wire_raises("BadVersion", w.delete, base + "/full", 3)
    wire_raises("NotEmpty", w.delete, base + "/full", 0)
    # setACL: NoAuth before BadVersion; InvalidACL before NoNode.
    wire_raises("NoAuth", w.set_acl, base + "/ro", [(31, "world", "anyone")], 9)
    wire_raises("InvalidACL", w.set_acl, base + "/absent", [])
    # A multi stops at the first failure, whatever kind it is.
    results = w.multi([("create", base + "/m", b"", None, 0), ("set", base + "/ro", b"", -1)])
    check_eq([r["err"] for r in results], ["Ok", "NoAuth"], "multi with a NoAuth op")
    check_eq(alice.exists(base + "/m"), None, "rolled back")
    w.close()
    remove(base)


def invalid_acls():
    base = ROOT + "/invalid"
    alice.create(base, b"")
    w = S.wire()
    for bad in (
        [],
        [(31, "nosuch", "x")],
        [(31, "world", "someone")],
        [(31, "digest", "no-colon")],
        [(31, "ip", "300.1.1.1")],
    ):
        wire_raises("InvalidACL", w.create, base + "/n", b"", acl=bad)
    raises(InvalidACLError, alice.set_acls, base, [])
    # kazoo replaces an empty ACL list by OPEN_ACL_UNSAFE on create, so that one goes on the
    # wire only.
    # CREATOR_ALL_ACL (auth scheme) needs an authenticated identity.
    raises(InvalidACLError, anonymous.create, base + "/creator", b"", acl=CREATOR_ALL_ACL)
    w.close()
    remove(base)


def auth_scheme():
    path = ROOT + "/creator"
    alice.create(path, b"c", acl=CREATOR_ALL_ACL)
    check_eq(
        acl_tuples(alice.get_acls(path)[0]),
        [(Permissions.ALL, "digest", make_digest_acl_credential("alice", "alice-pw"))],
        "auth: becomes the creator's digest identity",
    )
    raises(NoAuthError, bob.get, path)
    # With two digest identities, auth: expands to both (and never to the ip identity); the
    # id given with the auth scheme is ignored.
    w = S.wire()
    w.add_auth("digest", "carol:c")
    w.add_auth("digest", "dave:d")
    w.create(ROOT + "/two", b"", acl=[(31, "auth", "ignored")])
    stored, _ = w.get_acl(ROOT + "/two")
    check_eq(
        sorted(stored),
        sorted(
            [
                (31, "digest", make_digest_acl_credential("carol", "c")),
                (31, "digest", make_digest_acl_credential("dave", "d")),
            ]
        ),
        "auth: with two identities",
    )
    w.close()
    alice.delete(ROOT + "/two")
    alice.delete(path)


def ip_scheme():
    base = ROOT + "/ip"
    alice.create(base, b"")
    alice.create(base + "/local", b"l", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.1"))])
    alice.create(base + "/net", b"n", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.0/8"))])
    alice.create(base + "/elsewhere", b"e", acl=[ACL(Permissions.ALL, Id("ip", "10.1.2.3"))])
    check_eq(anonymous.get(base + "/local")[0], b"l", "ip:127.0.0.1 matches a loopback client")
    check_eq(anonymous.get(base + "/net")[0], b"n", "ip:127.0.0.0/8 matches")
    raises(NoAuthError, anonymous.get, base + "/elsewhere")
    # add_auth("ip", ...) is accepted and changes nothing: the address is the connection's.
    w = S.wire()
    w.add_auth("ip", "10.1.2.3")
    wire_raises("NoAuth", w.get_data, base + "/elsewhere")
    check_eq(w.who_am_i(), [("ip", "127.0.0.1")], "whoAmI after add_auth ip")
    w.close()
    remove(base)


def set_acl_versions():
    path = ROOT + "/versions"
    alice.create(path, b"", acl=OPEN_ACL_UNSAFE)
    raises(BadVersionError, alice.set_acls, path, READ_ACL_UNSAFE, version=3)
    stat = alice.set_acls(path, world(Permissions.READ | Permissions.ADMIN), version=0)
    check_eq((stat.aversion, stat.version), (1, 0), "aversion moves, version does not")
    stat = alice.set_acls(path, OPEN_ACL_UNSAFE, version=-1)
    check_eq(stat.aversion, 2, "setACL with version -1")
    # Setting the same ACL again still counts.
    check_eq(alice.set_acls(path, OPEN_ACL_UNSAFE).aversion, 3, "same ACL again")
    _, stat = alice.get_acls(path)
    check_eq(stat.aversion, 3, "getACL stat")
    alice.delete(path)


def failed_auth():
    # An unknown scheme fails the authentication and the server closes the connection.
    w = S.wire()
    wire_raises("AuthFailed", w.add_auth, "nosuch", "x")
    check(w.wait_closed(10), "the server closes the connection after AuthFailed")
    w = S.wire()
    wire_raises("AuthFailed", w.add_auth, "world", "anyone")
    check(w.wait_closed(10), "world is not an authentication scheme")
    # kazoo reports it as AuthFailedError.
    k = S.client()
    raises(AuthFailedError, k.add_auth, "nosuch", "x")
    # A digest credential without ':' is accepted as the user name alone.
    w = S.wire()
    w.add_auth("digest", "just-a-name")
    check_eq(
        sorted(w.who_am_i()), [("digest", "just-a-name"), ("ip", "127.0.0.1")], "whoAmI"
    )
    w.close()


def super_user():
    path = ROOT + "/locked"
    alice.create(path, b"locked", acl=[make_digest_acl("alice", "alice-pw", read=True)])
    raises(NoAuthError, bob.get, path)
    root = S.client()
    root.add_auth("digest", S.args.super_credential)
    check_eq(root.get(path)[0], b"locked", "super reads anything")
    root.set(path, b"by super")
    root.create(path + "/kid", b"")
    root.set_acls(path, OPEN_ACL_UNSAFE)
    check_eq(bob.get(path)[0], b"by super", "after super opened it")
    # The super user is a digest identity like the others for ACLs it creates.
    root.create(ROOT + "/super-own", b"", acl=CREATOR_ALL_ACL)
    raises(NoAuthError, alice.get, ROOT + "/super-own")
    # A wrong super password is an ordinary (non-matching) digest.
    fake = S.client()
    fake.add_auth("digest", "super:wrong")
    raises(NoAuthError, fake.get, ROOT + "/super-own")
    root.delete(ROOT + "/super-own")
    root.delete(path, recursive=True)


def zookeeper_config_node():
    # /zookeeper/config is world:anyone READ in standalone mode.
    raises(NoAuthError, alice.set, "/zookeeper/config", b"x")
    raises(NoAuthError, alice.create, "/zookeeper/config/x", b"")
    raises(NodeExistsError, alice.create, "/zookeeper", b"")
    raises(NoNodeError, alice.get, "/zookeeper/absent")


def cleanup():
    remove(ROOT)


S.run(
    [
        ("setup", setup),
        ("digest", digest),
        ("permissions-per-operation", permissions_per_operation),
        ("check-order", check_order),
        ("invalid-acls", invalid_acls),
        ("auth-scheme", auth_scheme),
        ("ip-scheme", ip_scheme),
        ("set-acl-versions", set_acl_versions),
        ("failed-auth", failed_auth),
        ("super-user", super_user),
        ("zookeeper-config-node", zookeeper_config_node),
        ("cleanup", cleanup),
    ]
)
