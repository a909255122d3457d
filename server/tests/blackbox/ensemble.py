#!/usr/bin/env python3
"""A real ensemble of zk-server processes on loopback, under write load, through failures.

1. Starts N servers (each its own zoo.cfg, dataDir and myid) and waits for one leader and
   N-1 followers, as `srvr` reports them; `mntr` on the leader must count the synced followers.
2. Writers (one kazoo client per server, plus one that may use any server) create sequential
   znodes; every create that returned is recorded (the client-side history).
3. The leader is killed with SIGKILL in the middle of the writes; the time until another server
   leads and accepts a write is the failover time.
4. Every acknowledged znode must be on every live server; the old leader restarts, rejoins as a
   follower and catches up.
5. A follower is killed, many more writes go in (the leader's snapshots and retention purge the
   log it would need), and it restarts: it must be brought back by a snapshot transfer.

Prints `FAIL [<step>]: ...` and exits 1 on the first failed check. Only loopback addresses;
only processes this script started are signalled, by PID.
"""

import argparse
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

STEP = "setup"


def fail(message):
    print(f"FAIL [{STEP}]: {message}", flush=True)
    sys.exit(1)


def step(name):
    global STEP
    STEP = name
    print(f"-- {name}", flush=True)


def free_ports(count):
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def four_letter(port, word, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def mode(port):
    for line in four_letter(port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


class Member:
    def __init__(self, number, root, binary, ports, servers_lines, extra):
        self.number = number
        self.binary = binary
        self.client_port = ports[0]
        self.dir = os.path.join(root, f"server{number}")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        with open(os.path.join(self.dir, "data", "myid"), "w") as f:
            f.write(f"{number}\n")
        self.config = os.path.join(self.dir, "zoo.cfg")
        with open(self.config, "w") as f:
            f.write(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\n"
                f"dataDir={os.path.join(self.dir, 'data')}\n"
                f"clientPort={self.client_port}\nclientPortAddress=127.0.0.1\n"
                "4lw.commands.whitelist=*\nmaxClientCnxns=0\n"
                + extra
                + servers_lines
            )
        self.process = None
        self.log_path = os.path.join(self.dir, "server.log")

    def start(self):
        log = open(self.log_path, "ab")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.process = subprocess.Popen(
            [self.binary, self.config], stdout=log, stderr=subprocess.STDOUT, env=env
        )

    def kill(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def wait_for_ensemble(members, live, timeout=30.0):
    """Waits for one leader among `live` and every other live member following."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        modes = {m.number: mode(m.client_port) for m in members if m.number in live}
        leaders = [n for n, md in modes.items() if md == "leader"]
        followers = [n for n, md in modes.items() if md == "follower"]
        if len(leaders) == 1 and len(followers) == len(live) - 1:
            return leaders[0]
        time.sleep(0.05)
    fail(f"no established ensemble among {sorted(live)} within {timeout}s: {modes}")


class Writers:
    """Creates sequential znodes from several clients; records what was acknowledged."""

    def __init__(self, hosts_list, prefix, payload):
        self.acknowledged = set()
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []
        self.clients = []
        for hosts in hosts_list:
            client = KazooClient(
                hosts=hosts,
                timeout=6.0,
                connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5),
            )
            client.start(timeout=15)
            self.clients.append(client)
        self.prefix = prefix
        self.payload = payload

    def run(self, client):
        while not self.stop.is_set():
            try:
                path = client.create(self.prefix, self.payload, sequence=True)
                with self.lock:
                    self.acknowledged.add(path)
            except KazooException:
                with self.lock:
                    self.errors += 1
                time.sleep(0.02)

    def start(self):
        for client in self.clients:
            thread = threading.Thread(target=self.run, args=(client,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        for client in self.clients:
            try:
                client.stop()
                client.close()
            except KazooException:
                pass


def children_on(member, path):
    client = KazooClient(hosts=f"127.0.0.1:{member.client_port}", timeout=10.0)
    client.start(timeout=15)
    try:
        client.sync(path)
        return set(client.get_children(path))
    finally:
        client.stop()
        client.close()


def check_all_present(members, live, acknowledged, parent):
    names = {p.rsplit("/", 1)[1] for p in acknowledged}
    reference = None
    for m in members:
        if m.number not in live:
            continue
        deadline = time.time() + 20
        while True:
            present = children_on(m, parent)
            missing = names - present
            if not missing or time.time() > deadline:
                break
            time.sleep(0.2)
        if missing:
            fail(
                f"server {m.number} lacks {len(missing)} acknowledged znodes, e.g. "
                f"{sorted(missing)[:5]}"
            )
        if reference is None:
            reference = present
        elif present != reference:
            fail(
                f"server {m.number} differs from the others: "
                f"{len(present ^ reference)} znodes in one and not the other"
            )
    return reference


def main():
    # kazoo reports every refused reconnect of the writer pinned to the killed server.
    logging.basicConfig(level=logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--write-seconds", type=float, default=2.0)
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="zk-ensemble-")
    count = args.servers
    ports = free_ports(3 * count)
    lines = "".join(
        f"server.{i + 1}=127.0.0.1:{ports[3 * i + 1]}:{ports[3 * i + 2]}\n" for i in range(count)
    )
    # Small segments and frequent snapshots, so that retention purges old log quickly.
    extra = "snapCount=200\npreAllocSize=64\nautopurge.snapRetainCount=3\n"
    members = [
        Member(i + 1, root, args.server_bin, ports[3 * i : 3 * i + 3], lines, extra)
        for i in range(count)
    ]
    live = set(m.number for m in members)
    hosts_all = ",".join(f"127.0.0.1:{m.client_port}" for m in members)
    ok = False
    try:
        step("start the ensemble")
        for m in members:
            m.start()
        leader = wait_for_ensemble(members, live)
        by_number = {m.number: m for m in members}
        print(f"leader is server {leader}", flush=True)
        monitor = four_letter(by_number[leader].client_port, "mntr")
        synced = [l for l in monitor.splitlines() if l.startswith("zk_synced_followers")]
        if not synced or synced[0].split()[1] != str(count - 1):
            fail(f"mntr on the leader does not count {count - 1} synced followers: {synced}")
        stat = four_letter(by_number[leader].client_port, "stat")
        if "Mode: leader" not in stat:
            fail(f"stat on the leader says: {stat}")

        step("watches, sync and session expiry across servers")
        followers = [m for m in members if m.number != leader]
        on_follower = KazooClient(hosts=f"127.0.0.1:{followers[0].client_port}", timeout=10.0)
        on_follower.start(timeout=15)
        on_other = KazooClient(hosts=f"127.0.0.1:{followers[-1].client_port}", timeout=10.0)
        on_other.start(timeout=15)
        on_other.ensure_path("/w")
        on_follower.sync("/w")
        fired = threading.Event()
        on_follower.get("/w", watch=lambda event: fired.set())
        on_other.set("/w", b"changed")
        if not fired.wait(10):
            fail("a data watch on one follower did not fire for a write through another")
        for i in range(20):
            on_other.set("/w", f"v{i}".encode())
            on_follower.sync("/w")
            value, _ = on_follower.get("/w")
            if value != f"v{i}".encode():
                fail(f"after sync, a follower read {value!r} where v{i} was written")
        # A client that vanishes without closing: the leader must expire its session
        # everywhere, wherever it was connected.
        vanisher = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sys\n"
                "from kazoo.client import KazooClient\n"
                "c = KazooClient(hosts=sys.argv[1], timeout=1.0)\n"
                "c.start(timeout=15)\n"
                "c.create('/vanished', b'', ephemeral=True)\n"
                "os._exit(0)\n",
                f"127.0.0.1:{followers[0].client_port}",
            ],
            capture_output=True,
            timeout=60,
        )
        if vanisher.returncode != 0:
            fail(f"the vanishing client failed: {vanisher.stderr.decode()[-500:]}")
        deadline = time.time() + 15
        while True:
            on_other.sync("/")
            on_follower.sync("/")
            if not on_other.exists("/vanished") and not on_follower.exists("/vanished"):
                break
            if time.time() > deadline:
                fail("the ephemeral of a vanished client outlived its session on some server")
            time.sleep(0.1)
        on_follower.stop()
        on_follower.close()
        on_other.stop()
        on_other.close()

        step("writes through every server")
        setup = KazooClient(hosts=hosts_all, timeout=10.0)
        setup.start(timeout=15)
        setup.ensure_path("/e")
        setup.stop()
        setup.close()
        hosts_list = [f"127.0.0.1:{m.client_port}" for m in members] + [hosts_all]
        writers = Writers(hosts_list, "/e/w-", b"x" * 100)
        writers.start()
        time.sleep(args.write_seconds)

        # A client whose session lives on the leader's connection, with an ephemeral node.
        other_port = next(m.client_port for m in members if m.number != leader)
        mover = KazooClient(
            hosts=f"127.0.0.1:{by_number[leader].client_port},127.0.0.1:{other_port}",
            timeout=8.0,
            randomize_hosts=False,
            connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5),
        )
        mover.start(timeout=15)
        mover.create("/mover", b"", ephemeral=True)
        session_before = mover.client_id[0]

        step("kill -9 the leader under load")
        old_leader = by_number[leader]
        killed_at = time.time()
        old_leader.kill()
        live.discard(leader)
        new_leader = wait_for_ensemble(members, live, timeout=30)
        probe = KazooClient(hosts=f"127.0.0.1:{by_number[new_leader].client_port}", timeout=10.0)
        probe.start(timeout=15)
        probe.create("/failover-probe", b"")
        failover = time.time() - killed_at
        probe.stop()
        probe.close()
        print(f"new leader: server {new_leader}; failover took {failover:.2f}s", flush=True)
        time.sleep(args.write_seconds)
        writers.finish()
        step("the leader's client moved with its session")
        deadline = time.time() + 20
        while not mover.connected and time.time() < deadline:
            time.sleep(0.05)
        if not mover.connected or mover.client_id[0] != session_before:
            fail(
                f"the client on the dead leader did not keep its session "
                f"(connected {mover.connected}, before 0x{session_before:x})"
            )
        if not mover.exists("/mover"):
            fail("the moved session's ephemeral node is gone")
        mover.set("/mover", b"still here")
        mover.stop()
        mover.close()
        acknowledged = set(writers.acknowledged)
        print(
            f"{len(acknowledged)} creates acknowledged, {writers.errors} failed or retried",
            flush=True,
        )
        if len(acknowledged) < 50:
            fail(f"only {len(acknowledged)} writes were acknowledged")

        step("every acknowledged write is on every live server")
        check_all_present(members, live, acknowledged, "/e")

        step("the old leader rejoins and catches up")
        old_leader.start()
        live.add(old_leader.number)
        wait_for_ensemble(members, live, timeout=30)
        present = check_all_present(members, live, acknowledged, "/e")
        print(f"all {len(live)} servers hold the same {len(present)} znodes", flush=True)

        step("a follower far behind is brought back by a snapshot")
        current_leader = wait_for_ensemble(members, live)
        follower = next(m for m in members if m.number != current_leader)
        follower.kill()
        live.discard(follower.number)
        bulk = KazooClient(hosts=f"127.0.0.1:{by_number[current_leader].client_port}", timeout=10.0)
        bulk.start(timeout=15)
        bulk.ensure_path("/bulk")
        payload = b"y" * 512
        for start in range(0, 3000, 100):
            transaction = bulk.transaction()
            for i in range(start, start + 100):
                transaction.create(f"/bulk/n{i:05d}", payload)
            results = transaction.commit()
            if any(isinstance(r, Exception) for r in results):
                fail(f"a bulk multi failed: {results[:3]}")
        for i in range(1500):
            bulk.set("/bulk/n00000", str(i).encode())
        bulk.stop()
        bulk.close()
        follower.start()
        live.add(follower.number)
        wait_for_ensemble(members, live, timeout=60)
        check_all_present(members, live, acknowledged, "/e")
        names = {f"n{i:05d}" for i in range(3000)}
        deadline = time.time() + 20
        while children_on(follower, "/bulk") != names:
            if time.time() > deadline:
                fail("the restarted follower does not hold the 3000 bulk znodes")
            time.sleep(0.2)
        if "installed the leader's snapshot" not in follower.log_text():
            fail("the restarted follower was not synced by a snapshot (see its log)")
        print("the restarted follower was synced by a snapshot", flush=True)
        ok = True
        print("OK", flush=True)
    finally:
        for m in members:
            m.stop()
        if not ok or args.keep:
            for m in members:
                text = m.log_text()
                print(f"===== server {m.number} log (last 60 lines) =====")
                print("\n".join(text.splitlines()[-60:]))
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
