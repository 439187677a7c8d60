#!/usr/bin/env python3
"""Soak and abuse run of `camproof serve` on loopback, beside a swarm of real cameras.

Each phase starts hostile clients against the gateway (and the relay), runs a swarm of
legitimate cameras while they are at it, and prints cameras online, the server's RSS and
open file descriptors before, during and after. Then a soak: streaming cameras for a
while, RSS sampled every 10 s. Every flood is bounded in time and count and targets only
127.0.0.0/8. Exit status 0 when every target of issue 21 held, 1 otherwise.

    scripts/abuse.py [--camproof target/release/camproof] [--soak 3m] [--only PHASE ...]

Targets checked:
  - during each flood, every camera of a 50-camera swarm connects within 10 s;
  - RSS under 2,000 hostile connections stays below 64 MB above idle;
  - serve never exits and its listeners never disappear (a camera connects after each phase);
  - soak: RSS flat within 5% after the first minute;
  - disk (root only, on a tmpfs): a restart on read-only logs is refused with the error
    named; a disk that fills while cameras connect stops serve with exit code 2 and the
    count of records not stored.

Hostile clients connect from 127.0.0.2 and up (one address per `--sources`), the cameras
from 127.0.0.1, as a botnet and a customer would come from different addresses.
The CDP/1 framing used here (u32 big-endian length of type byte + body, then the type
byte; ClientHello 0x01 = version u16, random[32], timestamp u64 µs, X25519 share[32]) is
the one docs/protocol.md specifies.
"""

import argparse
import multiprocessing as mp
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

MB = 1024 * 1024


def parse_duration(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 90s, 3m or 30m")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def client_hello():
    body = struct.pack(">H", 1) + os.urandom(32) + struct.pack(">Q", int(time.time() * 1e6)) + os.urandom(32)
    return struct.pack(">I", 1 + len(body)) + b"\x01" + body


def source(i, sources):
    n = 2 + (i % sources)
    return f"127.0.{n // 250}.{2 + n % 250}" if n >= 250 else f"127.0.0.{n}"


def connect(addr, src, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.connect(addr)
    return s


def hello_flood(addr, sources, worker, seconds, counts):
    """Fresh ClientHellos, one per connection, as fast as one process can."""
    end = time.monotonic() + seconds
    sent = answered = refused = errors = 0
    i = worker
    while time.monotonic() < end:
        i += 7
        try:
            s = connect(addr, source(i, sources), timeout=1.0)
            s.sendall(client_hello())
            sent += 1
            head = s.recv(5)
            if len(head) == 5 and head[4] == 0x02:
                answered += 1
            else:
                refused += 1
            s.close()
        except OSError:
            errors += 1
    counts.put((sent, answered, refused, errors))


def hold(addr, sources, n, seconds, mode, counts):
    """Opens `n` connections and keeps them: idle, slowloris (a byte every 5 s) or
    oversize (a header claiming 16 MiB, then data as fast as the server takes it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 256)), hard))
    socks, failed = [], 0
    for i in range(n):
        try:
            s = connect(addr, source(i, sources))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
    end = time.monotonic() + seconds
    sent = 0
    # A socket the server closed: a send failed, or a read sees the end (after any
    # alert the server sent before closing).
    gone = set()
    header = struct.pack(">I", 16 * MB) + b"\x17"
    chunk = b"\0" * 65536
    for s in socks:
        try:
            if mode == "oversize":
                sent += s.send(header)
        except OSError:
            pass
    while time.monotonic() < end:
        for s in socks:
            if s in gone:
                continue
            try:
                if mode == "slowloris":
                    sent += s.send(b"\0")
                elif mode == "oversize":
                    sent += s.send(chunk)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                gone.add(s)
        time.sleep(5 if mode == "slowloris" else 0.2)
    closed = 0
    for s in socks:
        try:
            while s not in gone:
                if s.recv(65536, socket.MSG_DONTWAIT) == b"":
                    gone.add(s)
        except BlockingIOError:
            pass
        except OSError:
            gone.add(s)
        closed += s in gone
        s.close()
    counts.put((len(socks), failed, closed, sent))


class Server:
    """`camproof serve` on loopback with its own data directory."""

    def __init__(self, camproof, work, port, nofile=None, data=None):
        self.camproof, self.port = camproof, port
        self.data = data or os.path.join(work, f"data-{port}")
        self.log = open(os.path.join(work, f"serve-{port}.log"), "w")
        limit = None
        if nofile:
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))  # noqa: E731
        self.proc = subprocess.Popen(
            [camproof, "serve", "--listen", f"127.0.0.1:{port}", "--store-port", str(port + 100),
             "--data", self.data],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=limit)
        self.relay = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.relay is None:
            time.sleep(0.2)
            with open(self.log.name) as f:
                m = re.search(r"relay on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.relay = int(m.group(1))
            if self.proc.poll() is not None:
                break
        if self.relay is None:
            raise SystemExit(f"serve did not start; see {self.log.name}")
        time.sleep(3)  # the store elects its leader

    def alive(self):
        return self.proc.poll() is None

    def rss(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
        except (OSError, AttributeError):
            return 0

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return 0

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def swarm(camproof, port, cameras, seconds, fps=0, seed=1):
    """Runs `camproof swarm`; returns (cameras online at the end, its output)."""
    out = subprocess.run(
        [camproof, "swarm", "--platform", f"127.0.0.1:{port}", "--cameras", str(cameras),
         "--duration", f"{int(seconds)}s", "--fps", str(fps), "--seed", str(seed)],
        capture_output=True, text=True, timeout=seconds + 120)
    m = re.search(r"cameras online\s+(\d+)/(\d+)", out.stdout)
    return (int(m.group(1)) if m else 0), out.stdout + out.stderr


def fmt(server):
    return f"RSS {server.rss() / MB:6.1f} MB, {server.fds():5d} fds, {'running' if server.alive() else 'EXITED'}"


def phase(name, server, args, start_hostile, results):
    print(f"\n== {name}")
    before = (server.rss(), server.fds())
    print(f"  before: {fmt(server)}")
    counts = mp.Queue()
    # The peaks while the hostile clients run, sampled every 200 ms: the deadlines close
    # idle connections within seconds, so one sample later would miss them.
    peaks = {"rss": 0, "fds": 0}
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peaks["rss"] = max(peaks["rss"], server.rss())
            peaks["fds"] = max(peaks["fds"], server.fds())
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    procs = start_hostile(counts)
    time.sleep(args.ramp)
    print(f"  during: {fmt(server)}")
    online, out = swarm(args.camproof, server.port, args.cameras, 10, seed=len(results) + 2)
    print(f"  during: {online}/{args.cameras} cameras connected within 10 s")
    gathered = [counts.get() for _ in procs]
    for p in procs:
        p.join()
    sampling.set()
    sampler.join()
    print(f"  peak while hostile: RSS {peaks['rss'] / MB:.1f} MB, {peaks['fds']} fds")
    if gathered and len(gathered[0]) == 4 and name.startswith("hello"):
        sent, answered, refused, errors = (sum(g[i] for g in gathered) for i in range(4))
        print(f"  hostile: {sent} hellos ({sent / args.flood_seconds:.0f}/s): {answered} answered with a "
              f"ServerHello, {refused} refused, {errors} connections failed")
    else:
        opened, failed, closed, sent = (sum(g[i] for g in gathered) for i in range(4))
        print(f"  hostile: {opened} connections opened ({failed} refused at connect), "
              f"{closed} closed by the server by the end, {sent} bytes sent")
    time.sleep(2)
    after_online, _ = swarm(args.camproof, server.port, 5, 5, seed=len(results) + 50)
    print(f"  after:  {fmt(server)}; {after_online}/5 cameras connect")
    ok_cams = online == args.cameras
    ok_alive = server.alive() and after_online == 5
    growth = peaks["rss"] - before[0]
    results.append((name, ok_cams, ok_alive, growth, peaks["fds"], gathered))
    print(f"  target: cameras {'PASS' if ok_cams else 'FAIL'}, alive {'PASS' if ok_alive else 'FAIL'}, "
          f"RSS +{growth / MB:.1f} MB")
    if not ok_cams:
        print("  swarm said:\n    " + "\n    ".join(out.strip().splitlines()[-6:]))
    return growth


def mount_tmpfs(path, size, read_only=False):
    """Mounts a tmpfs of `size` at `path` (root only); False when that is not possible."""
    os.makedirs(path, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                          capture_output=True).returncode == 0


def disk_phases(args, work, results):
    """Real failing file systems under `serve` (needs root for `mount`):
    - read-only: the store's logs from an earlier run on a file system remounted
      read-only; `serve` must refuse (exit non-zero, the error named), never serve;
    - full: a 24 MiB tmpfs filled up while cameras connect; `serve` must stop with
      exit code 2 and say how many records were not stored, never exit 0.
    A file system cannot be remounted read-only while `serve` holds its logs open for
    writing (EBUSY), so the read-only case is a restart on one."""
    if os.geteuid() != 0:
        print("\n== disk: skipped (mounting a tmpfs needs root)")
        return
    mnt = os.path.join(work, "disk")
    if not mount_tmpfs(mnt, "24m"):
        print("\n== disk: skipped (mount -t tmpfs failed: no CAP_SYS_ADMIN here?)")
        return
    data = os.path.join(mnt, "data")
    port = args.port + 2000
    try:
        print("\n== disk read-only: restart on the store's logs, remounted read-only")
        server = Server(args.camproof, work, port, data=data)
        online, _ = swarm(args.camproof, port, 5, 3, seed=71)
        server.stop()
        remount = subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True, text=True)
        if remount.returncode != 0:
            print(f"  skipped: remount read-only failed: {remount.stderr.strip()}")
        else:
            log = os.path.join(work, "serve-readonly.log")
            with open(log, "w") as out:
                proc = subprocess.Popen(
                    [args.camproof, "serve", "--listen", f"127.0.0.1:{port}", "--store-port",
                     str(port + 100), "--data", data, "--duration", "20s"],
                    stdout=out, stderr=subprocess.STDOUT)
                try:
                    code = proc.wait(40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = None
            text = open(log).read()
            named = "Read-only file system" in text or "read-only" in text
            ok = code not in (0, None) and named
            print(f"  first run: {online}/5 cameras recorded; restart on the read-only mount: "
                  f"exit {code}, error named: {named}")
            print("  said: " + " | ".join(line for line in text.splitlines() if "read-only" in line.lower())[:400])
            print(f"  target: refuses with the error named {'PASS' if ok else 'FAIL'}")
            results.append(("disk read-only restart", ok, ok, 0, 0, []))
            subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)

        print("\n== disk full: the store's file system fills up while cameras connect")
        shutil.rmtree(data, ignore_errors=True)
        server = Server(args.camproof, work, port + 1, data=data)
        online, _ = swarm(args.camproof, port + 1, 5, 3, seed=72)
        subprocess.run(["dd", "if=/dev/zero", f"of={os.path.join(mnt, 'filler')}", "bs=4k"],
                       capture_output=True)
        # New cameras make the platform write their records. A log's last page has room
        # for a few (tmpfs allocates whole pages), so enough cameras to need another
        # page: then the replicas hit ENOSPC.
        swarm(args.camproof, port + 1, 50, 5, seed=73)
        try:
            code = server.proc.wait(30)
        except subprocess.TimeoutExpired:
            code = None
        server.stop()
        text = open(server.log.name).read()
        lost = re.search(r"store lost its quorum[^\n]*", text)
        ok = code == 2 and lost is not None
        print(f"  {online}/5 cameras before the disk filled; serve exit {code}")
        print(f"  said: {lost.group(0) if lost else text.strip().splitlines()[-1:]} ")
        print(f"  target: stops with exit 2 and the count of unstored records {'PASS' if ok else 'FAIL'}")
        results.append(("disk full while serving", ok, ok, 0, 0, []))
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def spawn(target, args_list, counts):
    procs = []
    for a in args_list:
        p = mp.Process(target=target, args=(*a, counts))
        p.start()
        procs.append(p)
    return procs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--camproof", default="target/release/camproof")
    ap.add_argument("--port", type=int, default=27443)
    ap.add_argument("--cameras", type=int, default=50, help="legitimate cameras per phase")
    ap.add_argument("--sources", type=int, default=50, help="hostile source addresses")
    ap.add_argument("--flood-seconds", type=parse_duration, default=35)
    ap.add_argument("--ramp", type=parse_duration, default=20,
                    help="flood time before the swarm starts (the hello flood fills a 100,000-entry cache in about 16 s here)")
    ap.add_argument("--flooders", type=int, default=2, help="hello-flood processes")
    ap.add_argument("--hostile", type=int, default=2000, help="connections of the idle/slowloris/oversize phases")
    ap.add_argument("--soak", type=parse_duration, default=180)
    ap.add_argument("--soak-cameras", type=int, default=200)
    ap.add_argument("--soak-fps", type=int, default=10, help="video frames per second per camera (0: heartbeats only)")
    ap.add_argument("--only", nargs="*", default=None,
                    choices=["hello", "slowloris", "oversize", "idle", "relay", "fd", "soak", "disk"])
    args = ap.parse_args()
    if not shutil.which(args.camproof) and not os.path.exists(args.camproof):
        sys.exit(f"{args.camproof}: not found; build it with `cargo build --release` or pass --camproof")
    want = lambda p: args.only is None or p in args.only  # noqa: E731
    work = tempfile.mkdtemp(prefix="camproof-abuse-")
    print(f"camproof abuse run; logs in {work}")
    results = []
    server = Server(args.camproof, work, args.port)
    idle_rss = server.rss()
    gw = ("127.0.0.1", args.port)
    t = args.flood_seconds
    try:
        if want("hello"):
            phase("hello flood", server, args, lambda q: spawn(
                hello_flood, [(gw, args.sources, w, t) for w in range(args.flooders)], q), results)
        for mode in ("slowloris", "oversize", "idle"):
            if want(mode):
                phase(f"{mode}: {args.hostile} connections", server, args, lambda q, m=mode: spawn(
                    hold, [(gw, args.sources, args.hostile // 2, t, m)] * 2, q), results)
        if want("relay"):
            relay = ("127.0.0.1", server.relay)
            phase(f"relay idle: {args.hostile} connections", server, args, lambda q: spawn(
                hold, [(relay, args.sources, args.hostile // 2, t, "idle")] * 2, q), results)
        if want("soak"):
            print(f"\n== soak: {args.soak_cameras} cameras, {args.soak_fps} frames/s at 256 kbit/s, for {int(args.soak)} s")
            cams = subprocess.Popen(
                [args.camproof, "swarm", "--platform", f"127.0.0.1:{args.port}", "--cameras",
                 str(args.soak_cameras), "--duration", f"{int(args.soak)}s", "--fps", str(args.soak_fps),
                 "--seed", "99"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            start, samples = time.monotonic(), []
            while cams.poll() is None:
                time.sleep(10)
                el = time.monotonic() - start
                samples.append((el, server.rss(), server.fds()))
                print(f"  {el:6.0f} s: {fmt(server)}")
            out = cams.stdout.read()
            m = re.search(r"cameras online\s+(\d+)/(\d+)", out)
            base = [r for (e, r, _) in samples if e >= 60]
            flat = bool(base) and max(base) <= base[0] * 1.05
            print(f"  swarm: {m.group(0) if m else out.strip()[-200:]}")
            if base:
                print(f"  RSS after the first minute: {base[0] / MB:.1f} MB → max {max(base) / MB:.1f} MB, "
                      f"end {base[-1] / MB:.1f} MB: {'PASS' if flat else 'FAIL'} (flat within 5%)")
            results.append(("soak", flat, server.alive(), (max(base) - base[0]) if base else 0, 0, []))
    finally:
        server.stop()
    if want("fd"):
        fd_server = Server(args.camproof, work, args.port + 1000, nofile=1024)
        fgw = ("127.0.0.1", fd_server.port)
        phase("fd exhaustion: ulimit -n 1024, 1,100 connections", fd_server, args, lambda q: spawn(
            hold, [(fgw, args.sources, 550, t, "idle")] * 2, q), results)
        fd_server.stop()
    if want("disk"):
        disk_phases(args, work, results)
    print("\n== summary")
    failed = False
    for name, ok_cams, ok_alive, growth, fds, _ in results:
        rss_ok = growth < 64 * MB
        failed |= not (ok_cams and ok_alive and rss_ok)
        print(f"  {name:42s} cameras {'PASS' if ok_cams else 'FAIL'}  alive {'PASS' if ok_alive else 'FAIL'}  "
              f"peak RSS +{growth / MB:6.1f} MB {'PASS' if rss_ok else 'FAIL'}, peak {fds} fds")
    print(f"  idle RSS {idle_rss / MB:.1f} MB")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
