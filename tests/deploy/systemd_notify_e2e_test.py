#!/usr/bin/python3
"""steppewatchd under the sd_notify protocol, as systemd would see it (no systemd needed).

Binds an AF_UNIX datagram socket, starts the real steppewatchd with NOTIFY_SOCKET pointing at it,
WATCHDOG_USEC set and the embedded broker, and checks the sequence a Type=notify unit relies on:
READY=1 after start; WATCHDOG=1 while running; on SIGHUP (ExecReload) RELOADING=1 with
MONOTONIC_USEC, then READY=1; on a change in the rules directory the same; on SIGTERM STOPPING=1
and exit 0. Every wait has a deadline; nothing sleeps for work.

Usage: systemd_notify_e2e_test.py SOURCE_DIR BINARY_DIR
"""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

src, binary_dir = sys.argv[1], sys.argv[2]
daemon = os.path.join(binary_dir, "steppewatchd")
if not os.access(daemon, os.X_OK):
    print(f"FAIL: {daemon} not built")
    sys.exit(1)

# Deadline for each expected message: a cold start compiles the pack and joins a group on a
# loaded 2-core machine; 60 s only bounds how long a broken daemon hangs the test.
DEADLINE_S = 60

tmp = tempfile.mkdtemp(prefix="sw-notify-e2e-")
rules = os.path.join(tmp, "rules")
os.makedirs(rules)
shutil.copy(os.path.join(src, "deploy/kubernetes/base/rules/pack.yaml"), rules)
shutil.copy(os.path.join(src, "deploy/kubernetes/base/rules/example.yaml"), rules)
sock_path = os.path.join(tmp, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)

env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="2000000")
env.pop("WATCHDOG_PID", None)
proc = subprocess.Popen(
    [daemon, "--embedded", "--rules", rules, "--set", "metrics.listen=127.0.0.1:0",
     "--set", "pipeline.workers=1"],
    env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "stderr.log"), "w"))

seen = []


def expect(predicate, what):
    """Returns the first datagram satisfying predicate; fails after DEADLINE_S."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if proc.poll() is not None:
            break
        ready, _, _ = select.select([sock], [], [], 0.5)
        if not ready:
            continue
        msg = sock.recv(4096).decode()
        seen.append(msg)
        fields = dict(line.split("=", 1) for line in msg.split("\n") if "=" in line)
        if predicate(fields):
            print(f"ok: {what}: {msg!r}")
            return fields
    print(f"FAIL: no {what} within {DEADLINE_S} s (exit {proc.poll()}); got {seen[-5:]}")
    print(open(os.path.join(tmp, "stderr.log")).read()[-3000:])
    proc.kill()
    sys.exit(1)


try:
    expect(lambda f: f.get("READY") == "1", "READY=1 after start")
    expect(lambda f: f.get("WATCHDOG") == "1", "WATCHDOG=1 from the main loop")

    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    proc.send_signal(signal.SIGHUP)
    f = expect(lambda f: f.get("RELOADING") == "1", "RELOADING=1 on SIGHUP")
    usec = int(f.get("MONOTONIC_USEC", "0"))
    if not before * 1e6 <= usec <= time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6:
        print(f"FAIL: MONOTONIC_USEC={usec} is not the current CLOCK_MONOTONIC")
        sys.exit(1)
    expect(lambda f: f.get("READY") == "1", "READY=1 after the reload")

    # A rules change without a signal: the directory watch reloads by itself.
    with open(os.path.join(rules, "example.yaml"), "a") as out:
        out.write("\n# touched by the test\n")
    expect(lambda f: f.get("RELOADING") == "1", "RELOADING=1 on a rules directory change")
    expect(lambda f: f.get("READY") == "1", "READY=1 after that reload")

    proc.send_signal(signal.SIGTERM)
    expect(lambda f: f.get("STOPPING") == "1", "STOPPING=1 on SIGTERM")
    code = proc.wait(timeout=DEADLINE_S)
    if code != 0:
        print(f"FAIL: exit code {code} after SIGTERM")
        sys.exit(1)
    print("ok: exit 0 after the drain")
finally:
    if proc.poll() is None:
        proc.kill()
    sock.close()
    shutil.rmtree(tmp, ignore_errors=True)
