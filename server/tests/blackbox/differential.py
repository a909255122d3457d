#!/usr/bin/python3
"""Differential driver: runs the fixed operation sequences of differential_sequences.py against
one server and prints a normalized transcript, one JSON line per step, on stdout. Run it
against Apache ZooKeeper and against zk-server; the transcripts must be equal.

What is kept: results, error class names, data, ACLs, children (sorted: ZooKeeper does not
define their order), stats without the zxid and time fields (version, cversion, aversion,
dataLength, numChildren; ephemeralOwner as 0 or the name of the owning client; the relations
mzxid-vs-czxid and pzxid-vs-czxid), and the watch events each client received during the
step, in order: kazoo clients as (type, state, path), wire clients as event and state names.

Determinism: after every step each live client does a round trip (and, for kazoo, drains its
callback thread). ZooKeeper sends a notification before any later reply on the same connection,
so every event caused by the step has arrived when the round trip returns, whatever the timing.

Clients are named in the steps: names starting with "k" are kazoo clients, "w" zkwire clients
(the raw protocol, for what kazoo 2.8 lacks and for session control). A client is opened on
first use; every client is closed at the end of its sequence.

Exit status: 0 when every sequence ran (failed operations are part of the transcript); 2 on a
driver error (an unknown op, a malformed step).
"""

import hashlib
import json
import sys
import threading
import time

sys.dont_write_bytecode = True

import common  # noqa: E402
import differential_sequences  # noqa: E402
import zkwire  # noqa: E402
from kazoo.exceptions import KazooException  # noqa: E402
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402
from kazoo.protocol.states import Callback  # noqa: E402
from kazoo.security import ACL, Id, make_digest_acl_credential  # noqa: E402

IO_TIMEOUT = 10.0


def arguments(parser):
    parser.add_argument("--list", action="store_true", help="list the sequences and exit")


S = common.Script(__doc__, arguments)


class DriverError(Exception):
    pass


# ------------------------------------------------------------------ normalization


def norm_data(data):
    if data is None:
        return None
    if len(data) > 64:
        return {"len": len(data), "sha1": hashlib.sha1(data).hexdigest()[:16]}
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data.hex()


def relation(a, b):
    return "=" if a == b else (">" if a > b else "<")


class Sequence:
    """The clients and names of one sequence."""

    def __init__(self, name):
        self.name = name
        self.root = "/d-" + name
        self.clients = {}

    def owner_name(self, owner):
        if owner == 0:
            return 0
        for name, client in sorted(self.clients.items()):
            if client.session_id() == owner:
                return name
        return "another-session"

    def norm_stat(self, stat):
        if stat is None:
            return None
        if not isinstance(stat, dict):
            stat = {f: getattr(stat, f) for f in zkwire.STAT_FIELDS}
        return {
            "version": stat["version"],
            "cversion": stat["cversion"],
            "aversion": stat["aversion"],
            "dataLength": stat["dataLength"],
            "numChildren": stat["numChildren"],
            "owner": self.owner_name(stat["ephemeralOwner"]),
            "mzxid": "czxid" + relation(stat["mzxid"], stat["czxid"]),
            "pzxid": "czxid" + relation(stat["pzxid"], stat["czxid"]),
        }

    def root_relative(self, path):
        """The inverse of path(), for event paths."""
        if path is not None and (path == self.root or path.startswith(self.root + "/")):
            return "@" + path[len(self.root) :]
        return path

    def path(self, p):
        """'@' and '@/x' are relative to the sequence's root; anything else is sent as is."""
        if p is None:
            return None
        if p == "@":
            return self.root
        if p.startswith("@/"):
            return self.root + p[1:]
        return p


def to_bytes(data):
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict) and "repeat" in data:
        return data["repeat"].encode("utf-8") * data["times"]
    return data.encode("utf-8")


NAMED_ACLS = {
    "open": [(31, "world", "anyone")],
    "read": [(1, "world", "anyone")],
    "creator": [(31, "auth", "")],
}


def to_acl(spec):
    """None (client default), a name from NAMED_ACLS, or a list of [perms, scheme, id], where a
    digest id may be given as 'user:password' with the scheme 'digest-plain'."""
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = NAMED_ACLS[spec]
    out = []
    for perms, scheme, ident in spec:
        if scheme == "digest-plain":
            user, _, password = ident.partition(":")
            scheme, ident = "digest", make_digest_acl_credential(user, password)
        out.append((perms, scheme, ident))
    return out


def norm_acl(acl, sort=False):
    """ACL entries as [perms, scheme, id], in the server's order unless `sort`."""
    out = []
    for a in acl:
        if hasattr(a, "perms"):  # kazoo's ACL (a namedtuple of perms and Id)
            out.append([a.perms, a.id.scheme, a.id.id])
        else:  # zkwire's (perms, scheme, id)
            out.append([a[0], a[1], a[2]])
    return sorted(out) if sort else out


# ------------------------------------------------------------------ clients


class KazooSide:
    """A kazoo client plus the events its watchers received."""

    kind = "kazoo"

    def __init__(self, seq, name, step):
        self.seq = seq
        self.name = name
        self.events = []
        self.lock = threading.Lock()
        timeout = step.get("session_timeout_ms", 10000) / 1000.0
        self.zk = S.client(start=False, session_timeout=timeout)
        self.zk.start(timeout=IO_TIMEOUT)
        self.zk.add_listener(self._state)

    def _state(self, state):
        with self.lock:
            self.events.append(["state", str(state)])

    def watcher(self, event):
        with self.lock:
            self.events.append([event.type, event.state, self.seq.root_relative(event.path)])

    def session_id(self):
        cid = self.zk.client_id
        return cid[0] if cid else None

    def wait(self, async_result):
        try:
            return async_result.get(timeout=IO_TIMEOUT)
        except KazooTimeoutError:
            raise TimeoutError("no answer within %.0f s" % IO_TIMEOUT)

    def barrier(self):
        if not self.zk.connected:
            return
        try:
            self.wait(self.zk.exists_async("/"))
        except Exception:
            return
        drained = threading.Event()
        self.zk.handler.dispatch_callback(Callback("watch", drained.set, ()))
        drained.wait(IO_TIMEOUT)

    def take_events(self):
        with self.lock:
            out = self.events
            self.events = []
            return out

    def close(self):
        self.zk.stop()
        self.zk.close()

    def run(self, op, step):
        zk = self.zk
        p = self.seq.path(step.get("path"))
        watch = self.watcher if step.get("watch") else None
        norm_stat = self.seq.norm_stat
        if op == "create":
            result = self.wait(
                zk.create_async(
                    p,
                    to_bytes(step.get("data", "")),
                    acl=[ACL(a, Id(s, i)) for a, s, i in to_acl(step["acl"])]
                    if "acl" in step
                    else None,
                    ephemeral=step.get("ephemeral", False),
                    sequence=step.get("sequence", False),
                    include_data=step.get("stat", False),
                )
            )
            if step.get("stat"):
                return {"path": result[0], "stat": norm_stat(result[1])}
            return {"path": result}
        if op == "get":
            data, stat = self.wait(zk.get_async(p, watch=watch))
            return {"data": norm_data(data), "stat": norm_stat(stat)}
        if op == "set":
            stat = self.wait(zk.set_async(p, to_bytes(step["data"]), step.get("version", -1)))
            return {"stat": norm_stat(stat)}
        if op == "delete":
            self.wait(zk.delete_async(p, step.get("version", -1)))
            return "ok"
        if op == "exists":
            return {"stat": norm_stat(self.wait(zk.exists_async(p, watch=watch)))}
        if op == "children":
            if step.get("stat"):
                children, stat = self.wait(
                    zk.get_children_async(p, watch=watch, include_data=True)
                )
                return {"children": sorted(children), "stat": norm_stat(stat)}
            return {"children": sorted(self.wait(zk.get_children_async(p, watch=watch)))}
        if op == "get_acl":
            acl, stat = self.wait(zk.get_acls_async(p))
            return {"acl": norm_acl(acl, step.get("sort_acl")), "stat": norm_stat(stat)}
        if op == "set_acl":
            acl = [ACL(a, Id(s, i)) for a, s, i in to_acl(step["acl"])]
            return {"stat": norm_stat(self.wait(zk.set_acls_async(p, acl, step.get("version", -1))))}
        if op == "sync":
            return {"path": self.wait(zk.sync_async(p))}
        if op == "add_auth":
            self.wait(zk.add_auth_async(step["scheme"], step["credential"]))
            return "ok"
        if op == "multi":
            t = zk.transaction()
            for o in step["ops"]:
                kind = o[0]
                if kind == "create":
                    opts = o[3] if len(o) > 3 else {}
                    t.create(
                        self.seq.path(o[1]),
                        to_bytes(o[2]),
                        ephemeral=opts.get("ephemeral", False),
                        sequence=opts.get("sequence", False),
                    )
                elif kind == "delete":
                    t.delete(self.seq.path(o[1]), o[2])
                elif kind == "set":
                    t.set_data(self.seq.path(o[1]), to_bytes(o[2]), o[3])
                elif kind == "check":
                    t.check(self.seq.path(o[1]), o[2])
                else:
                    raise DriverError("kazoo multi cannot do %r" % (kind,))
            results = self.wait(t.commit_async())
            out = []
            for r in results:
                if isinstance(r, Exception):
                    out.append({"error": type(r).__name__})
                elif isinstance(r, str):
                    out.append({"path": r})
                elif r is True:
                    out.append("ok")
                else:
                    out.append({"stat": norm_stat(r)})
            return out
        raise DriverError("kazoo client cannot do %r" % (op,))


class WireSide:
    """A zkwire client; events come from the connection's notification queue."""

    kind = "wire"

    def __init__(self, seq, name, step):
        self.seq = seq
        self.name = name
        self.w = S.wire(
            connect=False,
            timeout_ms=step.get("session_timeout_ms", 10000),
            io_timeout=IO_TIMEOUT,
        )
        self.w.connect()
        self.away_since_zxid = None
        self.silent = False

    def session_id(self):
        return self.w.session_id

    def barrier(self):
        if self.silent or self.w.is_closed():
            return
        try:
            self.w.exists("/")
        except Exception:
            pass

    def take_events(self):
        return [
            [
                zkwire.EVENT_NAMES.get(e["type"], e["type"]),
                zkwire.STATE_NAMES.get(e["state"], e["state"]),
                self.seq.root_relative(e["path"]),
            ]
            for e in self.w.drain_events()
        ]

    def close(self):
        self.w.close()

    def run(self, op, step):
        w = self.w
        p = self.seq.path(step.get("path"))
        norm_stat = self.seq.norm_stat
        if op == "create":
            kind = step.get("kind", "create2")
            opcode = {
                "create": zkwire.OP_CREATE,
                "create2": zkwire.OP_CREATE2,
                "container": zkwire.OP_CREATE_CONTAINER,
                "ttl": zkwire.OP_CREATE_TTL,
            }[kind]
            mode = step.get("mode", zkwire.CONTAINER if kind == "container" else 0)
            path, stat = w.create(
                p,
                to_bytes(step.get("data", "")),
                acl=to_acl(step.get("acl", "open")),
                mode=mode,
                ttl=step.get("ttl"),
                op=opcode,
            )
            return {"path": path, "stat": norm_stat(stat)}
        if op == "get":
            data, stat = w.get_data(p, watch=step.get("watch", False))
            return {"data": norm_data(data), "stat": norm_stat(stat)}
        if op == "set":
            return {"stat": norm_stat(w.set_data(p, to_bytes(step["data"]), step.get("version", -1)))}
        if op == "delete":
            w.delete(p, step.get("version", -1))
            return "ok"
        if op == "exists":
            return {"stat": norm_stat(w.exists(p, watch=step.get("watch", False)))}
        if op == "children":
            if step.get("stat"):
                children, stat = w.get_children2(p, watch=step.get("watch", False))
                return {"children": sorted(children), "stat": norm_stat(stat)}
            return {"children": sorted(w.get_children(p, watch=step.get("watch", False)))}
        if op == "get_acl":
            acl, stat = w.get_acl(p)
            return {"acl": norm_acl(acl, step.get("sort_acl")), "stat": norm_stat(stat)}
        if op == "set_acl":
            return {"stat": norm_stat(w.set_acl(p, to_acl(step["acl"]), step.get("version", -1)))}
        if op == "sync":
            return {"path": w.sync(p)}
        if op == "add_auth":
            w.add_auth(step["scheme"], step["credential"])
            return "ok"
        if op == "who_am_i":
            return {"identities": sorted([list(x) for x in w.who_am_i()])}
        if op == "all_children":
            return {"count": w.get_all_children_number(p)}
        if op == "ephemerals":
            return {"paths": sorted(w.get_ephemerals(p))}
        if op == "add_watch":
            w.add_watch(p, {"persistent": 0, "recursive": 1}.get(step["mode"], step["mode"]))
            return "ok"
        if op in ("remove_watches", "check_watches"):
            types = {"children": 1, "data": 2, "any": 3, "persistent": 4, "recursive": 5}
            t = types.get(step["type"], step["type"])
            (w.remove_watches if op == "remove_watches" else w.check_watches)(p, t)
            return "ok"
        if op in ("multi", "multi_read"):
            ops = []
            for o in step["ops"]:
                o = list(o)
                o[1] = self.seq.path(o[1])
                if o[0] in ("create", "create2"):
                    # ["create", path, data, acl-spec, mode]
                    o[2] = to_bytes(o[2])
                    acl = to_acl(o[3] if len(o) > 3 else "open")
                    mode = o[4] if len(o) > 4 else 0
                    o = [o[0], o[1], o[2], acl, mode]
                elif o[0] in ("create_container", "create_ttl", "set"):
                    o[2] = to_bytes(o[2])
                ops.append(tuple(o))
            results = w.multi(ops, read=(op == "multi_read"))
            out = []
            for r in results:
                r = dict(r)
                if "stat" in r:
                    r["stat"] = norm_stat(r["stat"])
                if "data" in r:
                    r["data"] = norm_data(r["data"])
                if "children" in r:
                    r["children"] = sorted(r["children"])
                out.append(r)
            return out
        if op == "silence":
            self.silent = True
            w.go_silent()
            return "ok"
        if op == "drop":
            self.away_since_zxid = w.last_zxid
            w.drop()
            return "ok"
        if op == "resume":
            relative = self.away_since_zxid if self.away_since_zxid is not None else w.last_zxid
            try:
                back = w.resume()
            except zkwire.SessionRefused:
                return {"error": "SessionRefused"}
            S.wires.append(back)
            self.w = back
            self.silent = False
            watches = step.get("watches")
            if watches:
                back.set_watches2(
                    relative,
                    data=[self.seq.path(x) for x in watches.get("data", [])],
                    exist=[self.seq.path(x) for x in watches.get("exist", [])],
                    child=[self.seq.path(x) for x in watches.get("child", [])],
                    persistent=[self.seq.path(x) for x in watches.get("persistent", [])],
                    recursive=[self.seq.path(x) for x in watches.get("recursive", [])],
                )
            return {"same_session": back.session_id == self.session_id()}
        if op == "await_closed":
            return {"closed": w.wait_closed(step.get("timeout", 15.0))}
        raise DriverError("wire client cannot do %r" % (op,))


# ------------------------------------------------------------------ running


def error_name(e):
    if isinstance(e, zkwire.ZkError):
        return e.name
    if isinstance(e, (zkwire.WireTimeout, TimeoutError, KazooTimeoutError)):
        return "Timeout"
    if isinstance(e, zkwire.ConnectionClosed):
        return "ConnectionClosed"
    if isinstance(e, KazooException):
        return type(e).__name__
    return None


def run_step(seq, step):
    name = step["c"]
    op = step["op"]
    client = seq.clients.get(name)
    if op == "open":
        if client is not None:
            raise DriverError("client %s is already open" % name)
        seq.clients[name] = (KazooSide if name.startswith("k") else WireSide)(seq, name, step)
        return "ok"
    if client is None:
        seq.clients[name] = client = (KazooSide if name.startswith("k") else WireSide)(
            seq, name, {}
        )
    if op == "close":
        client.close()
        return "ok"
    if op == "await_absent":
        p = seq.path(step["path"])
        deadline = time.monotonic() + step.get("timeout", 15.0)
        while time.monotonic() < deadline:
            present = client.run("exists", {"path": p})["stat"] is not None
            if not present:
                return {"absent": True}
            time.sleep(0.05)
        return {"absent": False}
    try:
        return client.run(op, step)
    except DriverError:
        raise
    except Exception as e:
        name = error_name(e)
        if name is None:
            raise
        return {"error": name}


def describe(step):
    args = {k: v for k, v in step.items() if k not in ("c", "op")}
    return "%s %s %s" % (step["c"], step["op"], json.dumps(args, sort_keys=True, default=str))


def main():
    sequences = differential_sequences.SEQUENCES
    if S.args.list:
        for name, _steps in sequences:
            print(name)
        return
    out = sys.stdout
    for seq_name, steps in sequences:
        if S.args.only and not any(o in seq_name for o in S.args.only):
            continue
        S.step_name = seq_name
        seq = Sequence(seq_name)
        for index, step in enumerate(steps):
            S.step_name = "%s#%d" % (seq_name, index)
            result = run_step(seq, step)
            for client in seq.clients.values():
                client.barrier()
            events = {}
            for cname, client in sorted(seq.clients.items()):
                got = client.take_events()
                if got:
                    events[cname] = got
            line = {"step": "%s#%d %s" % (seq_name, index, describe(step)), "result": result}
            if events:
                line["events"] = events
            out.write(json.dumps(line, sort_keys=True, default=str) + "\n")
            out.flush()
        for client in seq.clients.values():
            try:
                client.close()
            except Exception:
                pass


S.run([("differential", main)])
