#!/usr/bin/env python3
"""Installs matplotlib into the directory given as the only argument (used with PYTHONPATH),
for benches/compare's chart.

`pip install --target` needs no root, leaves the system's Python alone and is allowed on
Debian's "externally managed" Python (PEP 668 exempts --target). When this Python has no pip
(Debian without python3-pip), pip's own wheel is downloaded from PyPI and run from the wheel
file, as pip's documentation allows; nothing is installed outside the directory.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request


def pip_command(scratch):
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode == 0:
        return [sys.executable, "-m", "pip"]
    print("this Python has no pip: fetching pip's wheel from PyPI", file=sys.stderr)
    with urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60) as answer:
        release = json.load(answer)
    wheel = next(f for f in release["urls"] if f["filename"].endswith(".whl"))
    path = os.path.join(scratch, wheel["filename"])
    urllib.request.urlretrieve(wheel["url"], path)
    # A pip wheel runs from the zip file itself: python pip-X.whl/pip install ...
    return [sys.executable, os.path.join(path, "pip")]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: install-matplotlib.py DIRECTORY")
    target = sys.argv[1]
    os.makedirs(target, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        command = pip_command(scratch) + [
            "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
            "--upgrade", "--target", target, "matplotlib"]
        sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
