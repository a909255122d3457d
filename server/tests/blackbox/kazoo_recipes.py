#!/usr/bin/python3
"""kazoo's recipes with several clients and threads: Lock (also non-blocking, and release by
session end), ReadLock/WriteLock, Semaphore, Election, Queue, LockingQueue, Barrier,
DoubleBarrier, Counter (int and float), Party. Each checks the recipe's guarantee (mutual
exclusion, no lost increments, every item consumed once, ...) rather than timings; every wait
is bounded.
"""

import sys
import threading

sys.dont_write_bytecode = True

import common  # noqa: E402
from common import check, check_eq, wait_until  # noqa: E402
from kazoo.exceptions import LockTimeout  # noqa: E402

S = common.Script(__doc__)
ROOT = "/bb-recipes"
CLIENTS = 4
WAIT = 30.0  # bound for anything a recipe waits for

admin = S.client()
clients = [S.client() for _ in range(CLIENTS)]


class Tracker:
    """Counts how many workers are inside a critical section at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inside = 0
        self.max_inside = 0
        self.entries = []

    def enter(self, who):
        with self.lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
            self.entries.append(who)

    def leave(self):
        with self.lock:
            self.inside -= 1


def run_threads(targets, what):
    """Runs each callable on its own thread; joins them all within WAIT; re-raises errors."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: B902
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        check(not t.is_alive(), "%s: a worker did not finish within %.0f s" % (what, WAIT))
    if errors:
        raise errors[0]


def setup():
    common.reset_root(admin, ROOT)


def lock():
    path = ROOT + "/lock"
    data = ROOT + "/lock-data"
    admin.create(data, b"0")
    tracker = Tracker()
    rounds = 5

    def worker(index):
        def run():
            lk = clients[index].Lock(path, identifier="worker-%d" % index)
            for _ in range(rounds):
                check(lk.acquire(timeout=WAIT), "worker %d acquires the lock" % index)
                try:
                    tracker.enter(index)
                    # A read-modify-write that loses updates without mutual exclusion.
                    value, stat = clients[index].get(data)
                    clients[index].set(data, b"%d" % (int(value) + 1), version=stat.version)
                    tracker.leave()
                finally:
                    lk.release()

        return run

    run_threads([worker(i) for i in range(CLIENTS)], "lock")
    check_eq(tracker.max_inside, 1, "holders at once")
    check_eq(int(admin.get(data)[0]), CLIENTS * rounds, "increments under the lock")
    check_eq(admin.get_children(path), [], "no lock nodes left")

    # Non-blocking acquire while someone holds it, contenders, and release by session end.
    holder_client = S.client()
    holder = holder_client.Lock(path, identifier="holder")
    check(holder.acquire(timeout=WAIT), "holder acquires")
    other = clients[0].Lock(path, identifier="other")
    check_eq(other.acquire(blocking=False), False, "non-blocking acquire while held")
    try:
        other.acquire(timeout=0.5)
        raise common.CheckFailed("acquire with a timeout while held should time out")
    except LockTimeout:
        pass
    check_eq(clients[1].Lock(path).contenders(), ["holder"], "contenders")
    acquired = threading.Event()

    def wait_for_it():
        if other.acquire(timeout=WAIT):
            acquired.set()

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    waiter.start()
    wait_until(lambda: len(admin.get_children(path)) == 2, WAIT, "the waiter's lock node")
    # The holder's session ends without releasing: its ephemeral node goes, the waiter gets in.
    holder_client.stop()
    holder_client.close()
    check(acquired.wait(WAIT), "the waiter acquires once the holder's session closed")
    waiter.join(WAIT)
    other.release()


def read_write_lock():
    path = ROOT + "/rw"
    r1 = clients[0].ReadLock(path, identifier="r1")
    r2 = clients[1].ReadLock(path, identifier="r2")
    w = clients[2].WriteLock(path, identifier="w")
    check(r1.acquire(timeout=WAIT), "first reader")
    check(r2.acquire(timeout=WAIT), "second reader at the same time")
    check_eq(w.acquire(blocking=False), False, "a writer waits for readers")
    r1.release()
    r2.release()
    check(w.acquire(timeout=WAIT), "the writer once readers left")
    r3 = clients[3].ReadLock(path, identifier="r3")
    check_eq(r3.acquire(blocking=False), False, "a reader waits for the writer")
    w.release()
    check(r3.acquire(timeout=WAIT), "the reader once the writer left")
    r3.release()


def semaphore():
    path = ROOT + "/semaphore"
    tracker = Tracker()

    def worker(index):
        def run():
            sem = clients[index].Semaphore(path, identifier="s%d" % index, max_leases=2)
            for _ in range(3):
                check(sem.acquire(timeout=WAIT), "semaphore lease %d" % index)
                try:
                    tracker.enter(index)
                    clients[index].sync(path)  # a round trip while holding the lease
                    tracker.leave()
                finally:
                    sem.release()

        return run

    run_threads([worker(i) for i in range(CLIENTS)], "semaphore")
    check(1 <= tracker.max_inside <= 2, "at most 2 leases at once, got %d" % tracker.max_inside)
    check_eq(len(tracker.entries), CLIENTS * 3, "every lease taken")


def election():
    path = ROOT + "/election"
    tracker = Tracker()
    go_on = [threading.Event() for _ in range(CLIENTS)]
    elections = [clients[i].Election(path, identifier="candidate-%d" % i) for i in range(CLIENTS)]

    def candidate(index):
        def lead():
            tracker.enter(index)
            go_on[index].wait(WAIT)
            tracker.leave()

        def run():
            elections[index].run(lead)

        return run

    threads = [threading.Thread(target=candidate(i), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    wait_until(
        lambda: len(elections[0].contenders()) == CLIENTS, WAIT, "all candidates registered"
    )
    for round_number in range(CLIENTS):
        wait_until(
            lambda: len(tracker.entries) == round_number + 1, WAIT, "leader %d" % round_number
        )
        check_eq(tracker.inside, 1, "exactly one leader")
        leader = tracker.entries[-1]
        check_eq(
            elections[0].contenders()[0], "candidate-%d" % leader, "the leader heads contenders"
        )
        go_on[leader].set()
    for t in threads:
        t.join(WAIT)
        check(not t.is_alive(), "candidate finished")
    check_eq(sorted(tracker.entries), list(range(CLIENTS)), "every candidate led once")
    check_eq(tracker.max_inside, 1, "never two leaders")


def queue():
    path = ROOT + "/queue"
    producer = clients[0].Queue(path)
    for i in range(5):
        producer.put(b"low-%d" % i, priority=200)
    producer.put(b"urgent", priority=1)
    check_eq(len(producer), 6, "queue length")
    consumers = [c.Queue(path) for c in clients[1:]]
    got = []
    lock = threading.Lock()

    def consume(q):
        def run():
            while True:
                item = q.get()
                if item is None:
                    return
                with lock:
                    got.append(item)

        return run

    # The first item comes out by priority.
    check_eq(consumers[0].get(), b"urgent", "highest priority first")
    run_threads([consume(q) for q in consumers], "queue consumers")
    check_eq(sorted(got), sorted(b"low-%d" % i for i in range(5)), "every item exactly once")
    check_eq(len(producer), 0, "empty queue")
    # Within one priority, FIFO.
    for i in range(3):
        producer.put(b"fifo-%d" % i)
    check_eq([consumers[0].get() for _ in range(3)], [b"fifo-0", b"fifo-1", b"fifo-2"], "FIFO")


def locking_queue():
    path = ROOT + "/locking-queue"
    producer = clients[0].LockingQueue(path)
    items = [b"job-%02d" % i for i in range(12)]
    producer.put_all(items)
    check_eq(len(producer), len(items), "locking queue length")
    done = []
    lock = threading.Lock()

    def consumer(index):
        def run():
            q = clients[index].LockingQueue(path)
            while True:
                item = q.get(timeout=1.0)
                if item is None:
                    if len(q) == 0:
                        return
                    continue
                check(q.holds_lock(), "a consumer holds the item it got")
                with lock:
                    done.append(item)
                check(q.consume(), "consume")

        return run

    run_threads([consumer(i) for i in range(1, CLIENTS)], "locking queue consumers")
    check_eq(sorted(done), items, "every job consumed exactly once")
    # An item got but released (not consumed) goes back to the queue.
    producer.put(b"retry-me")
    q = clients[1].LockingQueue(path)
    check_eq(q.get(timeout=WAIT), b"retry-me", "get")
    check(q.release(), "release")
    check_eq(clients[2].LockingQueue(path).get(timeout=WAIT), b"retry-me", "taken again")


def barrier():
    path = ROOT + "/barrier"
    gate = clients[0].Barrier(path)
    gate.create()
    check_eq(clients[1].Barrier(path).wait(timeout=0.3), False, "wait times out while it stands")
    passed = []

    def waiter(index):
        def run():
            if clients[index].Barrier(path).wait(timeout=WAIT):
                passed.append(index)

        return run

    threads = [threading.Thread(target=waiter(i), daemon=True) for i in range(1, CLIENTS)]
    for t in threads:
        t.start()
    # Whether a waiter is already blocked or checks after the removal, it must pass.
    gate.remove()
    for t in threads:
        t.join(WAIT)
    check_eq(sorted(passed), list(range(1, CLIENTS)), "every waiter passed")
    check_eq(clients[1].Barrier(path).wait(timeout=1), True, "no barrier: no wait")


def double_barrier():
    path = ROOT + "/double-barrier"
    count = CLIENTS
    state = {"entered": 0, "left": 0}
    lock = threading.Lock()
    seen_on_entry = []

    def member(index):
        def run():
            b = clients[index].DoubleBarrier(path, count, identifier="m%d" % index)
            b.enter()
            check(b.participating, "member %d entered" % index)
            with lock:
                state["entered"] += 1
                # Nobody gets past enter() before all have entered.
                seen_on_entry.append(len(admin.get_children(path)))
            b.leave()
            with lock:
                state["left"] += 1

        return run

    run_threads([member(i) for i in range(count)], "double barrier")
    check_eq(state, {"entered": count, "left": count}, "all entered and left")
    check(all(n >= 1 for n in seen_on_entry), "entries observed: %r" % seen_on_entry)
    check_eq(
        [c for c in admin.get_children(path) if c != "ready"], [], "no member nodes after leaving"
    )


def counter():
    path = ROOT + "/counter"
    increments = 10

    def worker(index):
        def run():
            c = clients[index].Counter(path)
            for _ in range(increments):
                c += 1

        return run

    run_threads([worker(i) for i in range(CLIENTS)], "counter")
    c = admin.Counter(path)
    check_eq(c.value, CLIENTS * increments, "no lost increments")
    c -= 5
    check_eq((c.pre_value, c.post_value), (CLIENTS * increments, CLIENTS * increments - 5), "pre/post")
    f = admin.Counter(ROOT + "/float-counter", default=0.0)
    f += 2.5
    f += 0.25
    check_eq(f.value, 2.75, "float counter")


def party():
    path = ROOT + "/party"
    members = [clients[i].Party(path, identifier="p%d" % i) for i in range(CLIENTS)]
    for m in members:
        m.join()
    check_eq(len(members[0]), CLIENTS, "party size")
    check_eq(sorted(members[0]), sorted("p%d" % i for i in range(CLIENTS)), "party members")
    members[1].leave()
    check_eq(len(members[0]), CLIENTS - 1, "after one left")
    shallow = clients[0].ShallowParty(ROOT + "/shallow", identifier="s0")
    shallow.join()
    check_eq(list(clients[1].ShallowParty(ROOT + "/shallow")), ["s0"], "shallow party")


def cleanup():
    admin.delete(ROOT, recursive=True)


S.run(
    [
        ("setup", setup),
        ("lock", lock),
        ("read-write-lock", read_write_lock),
        ("semaphore", semaphore),
        ("election", election),
        ("queue", queue),
        ("locking-queue", locking_queue),
        ("barrier", barrier),
        ("double-barrier", double_barrier),
        ("counter", counter),
        ("party", party),
        ("cleanup", cleanup),
    ]
)
