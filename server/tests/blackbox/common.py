"""Shared helpers for the black-box scripts: argument parsing, a watchdog, checks, waits.

Every script is run as `/usr/bin/python3 <script> --hosts 127.0.0.1:PORT [--timeout S]` and exits
0 on success; on failure it prints `FAIL [<step>]: <message>` (plus a traceback) and exits 1.
Waits poll a condition up to a bound; the only fixed pauses are quiet_period(), used before
asserting that something did NOT happen (which no wait can show), so they cannot make a correct
server fail.
"""

import argparse
import faulthandler
import logging
import os
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zkwire  # noqa: E402

# kazoo comes from Debian's python3-kazoo, which only Debian's /usr/bin/python3 sees.
try:
    from kazoo.client import KazooClient  # noqa: E402
    from kazoo.retry import KazooRetry  # noqa: E402
except ImportError as e:  # pragma: no cover
    sys.stderr.write(
        "FAIL [setup]: cannot import kazoo (%s); run with /usr/bin/python3 and install "
        "the Debian package python3-kazoo\n" % e
    )
    sys.exit(2)


class CheckFailed(Exception):
    pass


class Script:
    """Holds the parsed arguments and the name of the step being run."""

    def __init__(self, description, add_arguments=None):
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--hosts", required=True, help="127.0.0.1:PORT")
        parser.add_argument(
            "--timeout", type=float, default=180.0, help="whole-script watchdog, seconds"
        )
        parser.add_argument("--verbose", action="store_true")
        parser.add_argument(
            "--only", action="append", default=[], help="run only steps whose name contains this"
        )
        if add_arguments is not None:
            add_arguments(parser)
        self.args = parser.parse_args()
        # kazoo logs connection drops as warnings; the scripts provoke some on purpose.
        logging.basicConfig(
            level=logging.INFO if self.args.verbose else logging.CRITICAL,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        self.hosts = self.args.hosts
        self.step_name = "setup"
        self.steps_run = 0
        self.clients = []
        self.wires = []
        # The watchdog: if the script hangs, print every thread's stack and exit non-zero.
        faulthandler.dump_traceback_later(self.args.timeout, exit=True)

    def log(self, message):
        if self.args.verbose:
            sys.stderr.write("  %s\n" % message)

    def client(self, start=True, timeout=10.0, **kwargs):
        """A KazooClient on --hosts; stopped and closed by run()."""
        kwargs.setdefault("connection_retry", KazooRetry(max_tries=5, delay=0.1, max_delay=1.0))
        kwargs.setdefault("command_retry", None)
        session_timeout = kwargs.pop("session_timeout", 10.0)
        zk = KazooClient(hosts=self.hosts, timeout=session_timeout, **kwargs)
        self.clients.append(zk)
        if start:
            zk.start(timeout=timeout)
        return zk

    def wire(self, connect=True, **kwargs):
        """A zkwire.WireClient on --hosts; closed by run()."""
        w = zkwire.WireClient(self.hosts, **kwargs)
        self.wires.append(w)
        if connect:
            w.connect()
        return w

    def run(self, steps):
        """steps: list of (name, function). Runs them in order; exits the process."""
        started = time.monotonic()
        try:
            for name, fn in steps:
                if self.args.only and not any(o in name for o in self.args.only):
                    continue
                self.step_name = name
                self.log("step %s" % name)
                fn()
                self.steps_run += 1
        except BaseException as e:  # noqa: B902 - report everything, including KeyboardInterrupt
            sys.stdout.flush()
            sys.stderr.write("FAIL [%s]: %s: %s\n" % (self.step_name, type(e).__name__, e))
            traceback.print_exc()
            self._cleanup()
            sys.stderr.flush()
            os._exit(1)
        self._cleanup()
        sys.stdout.flush()
        # On stderr: stdout may be a transcript that must not depend on timing.
        sys.stderr.write(
            "OK: %d steps in %.1f s\n" % (self.steps_run, time.monotonic() - started)
        )
        sys.stderr.flush()
        # Kazoo's threads are daemons, but do not wait on anything at interpreter exit.
        os._exit(0)

    def _cleanup(self):
        for zk in self.clients:
            try:
                zk.stop()
                zk.close()
            except Exception:
                pass
        for w in self.wires:
            try:
                w.close()
            except Exception:
                pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def check_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed("%s: expected %r, got %r" % (what, expected, actual))


def raises(exc_class, fn, *args, **kwargs):
    """Call fn; it must raise exc_class (exactly that class or a subclass). Returns the error."""
    try:
        result = fn(*args, **kwargs)
    except exc_class as e:
        return e
    except Exception as e:
        raise CheckFailed(
            "%s: expected %s, got %s: %s"
            % (getattr(fn, "__name__", fn), exc_class.__name__, type(e).__name__, e)
        )
    raise CheckFailed(
        "%s: expected %s, but it returned %r"
        % (getattr(fn, "__name__", fn), exc_class.__name__, result)
    )


def wire_raises(code_name, fn, *args, **kwargs):
    """Like raises() for zkwire calls: the server must answer the named error code."""
    try:
        result = fn(*args, **kwargs)
    except zkwire.ZkError as e:
        if e.name != code_name:
            raise CheckFailed(
                "%s: expected error %s, got %s" % (getattr(fn, "__name__", fn), code_name, e.name)
            )
        return e
    raise CheckFailed(
        "%s: expected error %s, but it returned %r"
        % (getattr(fn, "__name__", fn), code_name, result)
    )


def wait_until(predicate, timeout, what, interval=0.05):
    """Poll predicate() until it is truthy (return its value) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CheckFailed("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class EventLog:
    """Collects kazoo watch events (type, state, path) from callbacks, in order."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def watcher(self, tag=None):
        def callback(event):
            with self.cond:
                entry = (event.type, event.state, event.path)
                self.events.append(entry if tag is None else (tag,) + entry)
                self.cond.notify_all()

        return callback

    def wait_count(self, n, timeout=10.0, what="watch events"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CheckFailed(
                        "timed out after %.1f s waiting for %d %s; have %r"
                        % (timeout, n, what, self.events)
                    )
                self.cond.wait(left)
            return list(self.events)

    def take(self):
        with self.cond:
            out = list(self.events)
            self.events.clear()
            return out


def quiet_period(seconds=0.3):
    """A short pause before asserting that something did NOT happen (no extra watch event).

    This is the only kind of sleep the scripts use: absence cannot be awaited.
    """
    time.sleep(seconds)


def reset_root(zk, path):
    """Delete `path` recursively if present, then create it empty."""
    if zk.exists(path):
        zk.delete(path, recursive=True)
    zk.create(path, b"")
