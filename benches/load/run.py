#!/usr/bin/env python3
"""Load benchmark: Sluice against nginx, side by side in one run on one machine.

For each scenario (static 200, proxy to a keep-alive upstream) it alternates the two
servers under test (A B A B ...), drives each with `sluice-load` pinned to the load CPU,
and reads the server's CPU time from /proc over exactly the measured window. The figure
that decides is server CPU microseconds per request; see README.md.

The sluice-only scenarios (ratelimit, ratelimit2, jwt, cache, resilience, balancers; not
run by default) alternate two routes of one sluice process instead: the bare /proxy route
and the same upstream behind policies (or, for balancers, two upstreams behind one load
balancer and behind another), and report the ratio of their CPU per request.

Python 3.11 standard library only (plus the openssl command line for the jwt scenario).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwks

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "benches" / "load" / "out"
RESULTS = OUT / "results.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVERS = ("sluice", "nginx")  # A, B
SCENARIOS = {"static": "/static", "proxy": "/proxy"}
# Goals for sluice/nginx: CPU per request at most this; p99 no worse (ratio <= 1).
CPU_GOALS = {"static": 0.75, "proxy": 0.85}
P99_GOAL = 1.0

# Route A of the comparison scenarios, unless they say otherwise.
COMPARE_BASE = "/proxy"
# Upstreams the routes of a comparison with `balancers` spread over (the first is the one
# every other scenario uses).
BALANCED_UPSTREAMS = 2


@dataclass(frozen=True)
class Comparison:
    """A sluice-only scenario: in one sluice process started for it, route `base` (A)
    against `route` (B), which proxies to the same upstream(s) through `policies`, or
    through another load balancer. The goal, if any, bounds B's CPU per request over A's."""

    route: str
    # YAML flow mappings of B's policies, comma-separated (A has none); "{jwks_url}" is
    # replaced by the fixture's URL.
    policies: str
    # None: the ratio is for information.
    goal: float | None
    base: str = COMPARE_BASE
    # Both routes spread over BALANCED_UPSTREAMS upstreams (`targets`), A with the first
    # load balancer and B with the second. None: both proxy to the one upstream (`target`).
    balancers: tuple[str, str] | None = None
    # 1: the shard on --server-cpu. 2: shards on --server-cpu and --load-cpu, the second
    # one sharing its CPU with sluice-load and the upstream.
    shards: int = 1
    # B's second answer has this header (a check that the policy is in force, and that the
    # load will see the case measured: the first answer of a cache route is a miss), with
    # marker_value when that is given; A's has not.
    marker_header: str | None = None
    marker_value: str | None = None
    # Needs the RS256 fixture: a JWKS server and one bearer token sent on both routes.
    jwt: bool = False


# A limit so high it is never hit: the figure is the cost of counting, not of refusing.
RATE_LIMIT = "{type: rate-limit, max: 1000000000, window: 60s, key_by: ip}"
# Policies that only act when the upstream fails or is slow, which it never is here.
RESILIENCE = (
    "{type: retry}, {type: circuit-breaker}, "
    "{type: timeout, request: 10s, first_byte: 5s, idle: 5s}"
)
COMPARISONS = {
    "ratelimit": Comparison(
        "/proxy-rl", RATE_LIMIT, 1.10, marker_header="x-ratelimit-limit"
    ),
    "ratelimit2": Comparison(
        "/proxy-rl", RATE_LIMIT, 1.10, shards=2, marker_header="x-ratelimit-limit"
    ),
    "jwt": Comparison(
        "/proxy-jwt", '{type: jwt-auth, jwks_url: "{jwks_url}"}', 1.15, jwt=True
    ),
    "cache": Comparison(
        "/proxy-cached", "{type: cache, ttl: 300s}", None,
        marker_header="x-cache", marker_value="HIT",
    ),
    "resilience": Comparison("/proxy-res", RESILIENCE, None),
    "balancers": Comparison(
        "/proxy-p2c", "", None, base="/proxy-rr", balancers=("round_robin", "p2c")
    ),
}

# Marker lines sluice-load writes to stderr around the measured window.
MARK_START = "sluice-load: measuring"
MARK_END = "sluice-load: window end"

# A run is reported as disturbed when more than this share of the server CPU went elsewhere.
DISTURBED_OTHER = 0.10

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0

UPSTREAM_CONF = """\
# Trivial keep-alive upstream both proxies forward to.
master_process off;
worker_processes 1;
daemon off;
pid {dir}/{name}.pid;
error_log {dir}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/{name}-tmp;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ return 200 "ok"; }}
    }}
}}
"""

NGINX_CONF = """\
# nginx under test: one process, pinned by the script.
master_process off;
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/plain;
    # Steady-state keep-alive on both sides: no reconnect every 1000 requests (the default).
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/nginx-tmp/body;
    proxy_temp_path {dir}/nginx-tmp/proxy;
    upstream load_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /static {{ return 200 "ok"; }}
        location /proxy {{
            proxy_pass http://load_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""

SLUICE_CONF = """\
name: load
listen: ["127.0.0.1:{port}"]
shards: 1
routes:
  - path: /static
    upstream: {{type: static, status: 200, body: "ok"}}
  - path: /proxy
    upstream: {{type: url, target: "http://127.0.0.1:{upstream_port}"}}
"""

# Sluice of a comparison scenario: route A, bare, and route B, with policies or another
# load balancer; the upstreams are YAML flow mappings from url_upstream().
COMPARE_CONF = """\
name: load-{scenario}
listen: ["127.0.0.1:{port}"]
shards: {shards}
routes:
  - path: {base}
    upstream: {base_upstream}
  - path: {route}
    upstream: {upstream}
    policies: [{policies}]
"""


class BenchError(Exception):
    """A problem that ends the run with a message instead of a traceback."""


@dataclass
class Server:
    """A process we started and must stop."""

    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        """utime + stime of the whole process (all threads), in seconds."""
        try:
            return process_cpu_seconds(self.proc.pid)
        except FileNotFoundError as exc:
            raise BenchError(f"{self.name} (pid {self.proc.pid}) is gone; see {self.log}") from exc

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(
                f"{self.name} exited with status {self.proc.returncode}; log:\n{tail(self.log)}"
            )


@dataclass
class Run:
    """One measured window: one server, one scenario, one round."""

    scenario: str
    server: str
    round: int
    load: dict
    cpu_s: float
    upstream_cpu_s: float | None
    # Busy time of the server CPU (from /proc/stat) not spent in the server process: other
    # tenants, and interrupt work not charged to the process. High values mean a disturbed run.
    other_s: float
    # Comparison scenarios: the route measured (the server is then the scenario's sluice).
    route: str | None = None

    @property
    def cpu_us_per_req(self) -> float:
        return self.cpu_s / self.load["requests"] * 1e6

    @property
    def busy(self) -> float:
        return self.cpu_s / self.load["seconds"]

    @property
    def other(self) -> float:
        return max(0.0, self.other_s / self.load["seconds"])

    def as_json(self) -> dict:
        out = {
            "scenario": self.scenario,
            "server": self.server,
            "round": self.round,
            **({"route": self.route} if self.route else {}),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_us_per_req": round(self.cpu_us_per_req, 3),
            "server_busy": round(self.busy, 3),
            "server_cpu_other": round(self.other, 3),
            **self.load,
        }
        if self.upstream_cpu_s is not None:
            out["upstream_cpu_us_per_req"] = round(
                self.upstream_cpu_s / self.load["requests"] * 1e6, 3
            )
        return out


@dataclass
class Procs:
    """Every child process, so one place can stop them all."""

    children: list[subprocess.Popen] = field(default_factory=list)
    # Other things to stop (the JWKS server thread), run after the processes are gone.
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        # A new session keeps Ctrl-C away from the children: the script stops them itself.
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.children.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()
        while self.cleanups:
            self.cleanups.pop()()


def main() -> int:
    args = parse_args()
    # SIGTERM takes the same clean-up path as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=OUT))
    procs = Procs()
    try:
        return bench(args, workdir, procs)
    except (BenchError, jwks.FixtureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if args.keep_workdir:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the servers under test")
    p.add_argument(
        "--load-cpu", type=int, default=1, help="CPU for sluice-load and the upstream"
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2, help="A B pairs per scenario")
    p.add_argument(
        "--sluice", type=Path, default=REPO / "target" / "release" / "sluice", help="sluice binary"
    )
    p.add_argument("--nginx", type=Path, default=None, help="nginx binary (default: from PATH)")
    p.add_argument(
        "--loadgen",
        type=Path,
        default=REPO / "target" / "release" / "sluice-load",
        help="sluice-load binary",
    )
    p.add_argument(
        "--loadgen-driver",
        choices=("auto", "uring", "legacy"),
        default="legacy",
        help="sluice-load --driver; legacy (epoll) loads the server least, see README",
    )
    p.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated subset of sluice,nginx (ratios need both)",
    )
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of " + ",".join([*SCENARIOS, *COMPARISONS])
        + f" (default {','.join(SCENARIOS)})",
    )
    p.add_argument("--skip-build", action="store_true", help="do not run cargo build first")
    p.add_argument(
        "--keep-workdir", action="store_true", help="keep configs and logs under out/run-*"
    )
    args = p.parse_args()

    for option, known in (("servers", SERVERS), ("scenarios", (*SCENARIOS, *COMPARISONS))):
        wanted = [w for w in getattr(args, option).split(",") if w]
        unknown = sorted(set(wanted) - set(known))
        if unknown or not wanted:
            p.error(f"--{option} takes a comma-separated subset of {','.join(known)}")
        # Keep the canonical order: sluice before nginx (A B), static before proxy, the
        # sluice-against-nginx scenarios before the comparisons.
        setattr(args, option, [k for k in known if k in wanted])
    if "sluice" not in args.servers and any(s in COMPARISONS for s in args.scenarios):
        p.error(f"--scenarios {','.join(COMPARISONS)} measure sluice: keep it in --servers")
    if args.server_cpu == args.load_cpu:
        p.error("--server-cpu and --load-cpu must differ")
    if args.rounds < 1 or args.connections < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--rounds, --connections and --duration must be positive")
    nginx = args.nginx or shutil.which("nginx") or "/usr/sbin/nginx"
    args.nginx = Path(nginx)
    return args


@dataclass
class Arm:
    """One side of a scenario's A B pair: where the load goes and how it is labelled."""

    server: Server
    path: str
    # What `path` proxies to: their CPU time is the upstream column.
    upstreams: list[Server]
    # Comparison scenarios: the route (the arm's name); None for sluice against nginx.
    route: str | None = None
    headers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.route or self.server.name


def bench(args: argparse.Namespace, workdir: Path, procs: Procs) -> int:
    if not args.skip_build:
        build()
    for path in [args.loadgen, args.nginx] + ([args.sluice] if "sluice" in args.servers else []):
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} is not an executable file")
    versus = [s for s in args.scenarios if s in SCENARIOS]
    compared = [s for s in args.scenarios if s in COMPARISONS]

    # One upstream serves every scenario; the balancers scenario spreads over more.
    count = BALANCED_UPSTREAMS if any(COMPARISONS[s].balancers for s in compared) else 1
    upstreams = [
        start_upstream(args, workdir, procs, "upstream" if n == 1 else f"upstream{n}")
        for n in range(1, count + 1)
    ]
    upstream = upstreams[0]
    servers: dict[str, Server] = {}
    if versus and "nginx" in args.servers:
        servers["nginx"] = start_nginx(args, workdir, procs, upstream.port)
    if versus and "sluice" in args.servers:
        servers["sluice"] = start_sluice(args, workdir, procs, upstream.port)
    for server in servers.values():
        for scenario in versus:
            smoke_test(server, SCENARIOS[scenario])
    arms = {
        s: [Arm(servers[name], SCENARIOS[s], [upstream]) for name in args.servers]
        for s in versus
    }

    jwks_server = None
    headers: tuple[str, ...] = ()
    if any(COMPARISONS[s].jwt for s in compared):
        fixture = jwks.make_rs256(workdir)
        jwks_server = jwks.JwksServer(fixture.jwks)
        procs.cleanups.append(jwks_server.stop)
        headers = (f"authorization: Bearer {fixture.token}",)
    for scenario in compared:
        cmp = COMPARISONS[scenario]
        targets = upstreams if cmp.balancers else [upstream]
        server = start_compare_sluice(
            args, workdir, procs, targets, scenario, jwks_server.url if cmp.jwt else None
        )
        mine = headers if cmp.jwt else ()
        arms[scenario] = [
            Arm(server, path, targets, path, mine) for path in (cmp.base, cmp.route)
        ]
        smoke_compare(server, cmp, mine)

    print(
        f"servers on CPU {args.server_cpu}, sluice-load (--driver {args.loadgen_driver}) and "
        f"upstream on CPU {args.load_cpu}; {args.connections} connections, "
        f"{args.warmup:g} s warmup + {args.duration:g} s window, {plural(args.rounds, 'round')}"
    )
    for scenario in compared:
        cmp = COMPARISONS[scenario]
        cpus = ",".join(map(str, compare_cpus(args, cmp)))
        balancers = (
            f", both over {plural(len(upstreams), 'upstream')} "
            f"({cmp.balancers[0]} on {cmp.base}, {cmp.balancers[1]} on {cmp.route})"
            if cmp.balancers
            else ""
        )
        print(
            f"{scenario}: {cmp.route} against {cmp.base} in one sluice, "
            f"{plural(cmp.shards, 'shard')} on CPU {cpus}{balancers}"
            + (f", the same bearer token on both, JWKS at {jwks_server.url}" if cmp.jwt else "")
        )
    print()
    runs: list[Run] = []
    scenario_width = max(6, *map(len, args.scenarios))
    for scenario in args.scenarios:
        width = max(6, *(len(arm.name) for arm in arms[scenario]))
        cpus = compare_cpus(args, COMPARISONS[scenario]) if scenario in compared else None
        for rnd in range(1, args.rounds + 1):
            for arm in arms[scenario]:
                run = measure(args, arm, scenario, rnd, procs, cpus)
                runs.append(run)
                print(
                    f"  {scenario:<{scenario_width}} round {rnd} {arm.name:<{width}} "
                    f"{run.load['rps']:>9.0f} req/s  "
                    f"p99 {run.load['p99_us']:>6} µs  {run.cpu_us_per_req:6.2f} CPU µs/req  "
                    f"busy {run.busy:4.0%}  other {run.other:4.0%}  errors {run.load['errors']}  "
                    f"non-2xx {run.load['non_2xx']}",
                    flush=True,
                )

    results = summarize(args, runs, jwks_server)
    print()
    print_tables(results)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{RESULTS.relative_to(REPO)}:")
    print(json.dumps(results, indent=2))
    return 1 if results["invalid_runs"] else 0


def build() -> None:
    cmd = ["cargo", "build", "--release", "-p", "sluice-shards", "-p", "sluice-benches"]
    print("$ " + " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        raise BenchError("cargo build failed (use --skip-build with prebuilt binaries)")


def start_upstream(args: argparse.Namespace, workdir: Path, procs: Procs, name: str) -> Server:
    port = free_port()
    (workdir / f"{name}-tmp").mkdir()
    conf = workdir / f"{name}.conf"
    conf.write_text(UPSTREAM_CONF.format(dir=workdir, name=name, port=port))
    return start_nginx_process(name, args.nginx, conf, port, args.load_cpu, procs)


def start_nginx(
    args: argparse.Namespace, workdir: Path, procs: Procs, upstream_port: int
) -> Server:
    port = free_port()
    (workdir / "nginx-tmp").mkdir()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port, upstream_port=upstream_port))
    return start_nginx_process("nginx", args.nginx, conf, port, args.server_cpu, procs)


def start_nginx_process(
    name: str, nginx: Path, conf: Path, port: int, cpu: int, procs: Procs
) -> Server:
    workdir = conf.parent
    # -e: the start-up error log, which otherwise goes to a system path before the config
    # is read.
    argv = ["taskset", "-c", str(cpu), str(nginx), "-p", str(workdir), "-c", str(conf),
            "-e", str(workdir / f"{name}-startup.log")]
    return start_server(name, argv, port, workdir / f"{name}.log", procs)


def start_sluice(
    args: argparse.Namespace, workdir: Path, procs: Procs, upstream_port: int
) -> Server:
    port = free_port()
    conf = workdir / "sluice.yaml"
    conf.write_text(SLUICE_CONF.format(port=port, upstream_port=upstream_port))
    # taskset as well as --cpus: every thread of the process (not only the shard) stays on
    # the server CPU, as nginx's single process does.
    cpu = str(args.server_cpu)
    argv = ["taskset", "-c", cpu, str(args.sluice), "run", "--config", str(conf),
            "--shards", "1", "--cpus", cpu]
    return start_server("sluice", argv, port, workdir / "sluice.log", procs)


def compare_cpus(args: argparse.Namespace, cmp: Comparison) -> list[int]:
    """The CPUs of a comparison's sluice: the server CPU, then the load CPU for a 2nd shard."""
    return [args.server_cpu, args.load_cpu][: cmp.shards]


def url_upstream(upstreams: list[Server], balancer: str | None = None) -> str:
    """A `type: url` upstream as a YAML flow mapping: `target` without a balancer,
    `targets` and `load_balancer` with one."""
    urls = [f'"http://127.0.0.1:{upstream.port}"' for upstream in upstreams]
    if balancer is None:
        (url,) = urls
        return f"{{type: url, target: {url}}}"
    targets = ", ".join(f"{{url: {url}}}" for url in urls)
    return f"{{type: url, targets: [{targets}], load_balancer: {balancer}}}"


def start_compare_sluice(
    args: argparse.Namespace,
    workdir: Path,
    procs: Procs,
    upstreams: list[Server],
    scenario: str,
    jwks_url: str | None,
) -> Server:
    cmp = COMPARISONS[scenario]
    if cmp.balancers:
        base_upstream, upstream = (url_upstream(upstreams, b) for b in cmp.balancers)
    else:
        base_upstream = upstream = url_upstream(upstreams)
    port = free_port()
    conf = workdir / f"sluice-{scenario}.yaml"
    conf.write_text(
        COMPARE_CONF.format(
            scenario=scenario,
            port=port,
            shards=cmp.shards,
            base=cmp.base,
            base_upstream=base_upstream,
            route=cmp.route,
            upstream=upstream,
            policies=cmp.policies.replace("{jwks_url}", jwks_url or ""),
        )
    )
    cpus = ",".join(map(str, compare_cpus(args, cmp)))
    argv = ["taskset", "-c", cpus, str(args.sluice), "run", "--config", str(conf),
            "--shards", str(cmp.shards), "--cpus", cpus]
    return start_server(f"sluice-{scenario}", argv, port, workdir / f"sluice-{scenario}.log", procs)


def start_server(name: str, argv: list[str], port: int, log: Path, procs: Procs) -> Server:
    with log.open("wb") as out:
        # taskset execs the server, so the pid is the server's own.
        proc = procs.spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, proc, port, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        server.check_alive()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"{name} did not listen on {port}; log:\n{tail(log)}") from None
            time.sleep(0.05)


def fetch(
    server: Server, path: str, headers: tuple[str, ...] = ()
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One GET on a fresh connection: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path, headers=dict(h.split(": ", 1) for h in headers))
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    except OSError as exc:
        raise BenchError(f"{server.name} GET {path}: {exc}; log:\n{tail(server.log)}") from exc
    finally:
        conn.close()


def smoke_test(server: Server, path: str, headers: tuple[str, ...] = ()) -> http.client.HTTPMessage:
    """One request before measuring, so a misconfiguration fails early and clearly."""
    status, response_headers, body = fetch(server, path, headers)
    if status != 200:
        raise BenchError(f"{server.name} GET {path}: status {status}, body {body[:200]!r}")
    return response_headers


def smoke_compare(server: Server, cmp: Comparison, headers: tuple[str, ...]) -> None:
    """Both routes answer 200 to the request sluice-load will send, and the policy is in
    force on the second route only; otherwise the ratio would compare nothing."""
    base = smoke_test(server, cmp.base, headers)
    smoke_test(server, cmp.route, headers)
    # The second answer: the first one of a cache route is a miss, the load's are hits.
    policed = smoke_test(server, cmp.route, headers)
    if cmp.marker_header:
        found = policed.get(cmp.marker_header)
        if found is None or cmp.marker_value not in (None, found):
            expected = repr(cmp.marker_value) if cmp.marker_value else "the header"
            raise BenchError(
                f"{server.name} GET {cmp.route}: {cmp.marker_header} {found!r} "
                f"(expected {expected})"
            )
        if base.get(cmp.marker_header) is not None:
            raise BenchError(f"{server.name} GET {cmp.base}: has {cmp.marker_header}")
    if cmp.jwt:
        status, _, body = fetch(server, cmp.route)
        if status != 401:
            raise BenchError(
                f"{server.name} GET {cmp.route} without a token: status {status} (expected "
                f"401), body {body[:200]!r}"
            )


def measure(
    args: argparse.Namespace,
    arm: Arm,
    scenario: str,
    rnd: int,
    procs: Procs,
    server_cpus: list[int] | None = None,
) -> Run:
    """One run against `arm`. `server_cpus` are the server's CPUs (default: the server
    CPU); when they include the load CPU, sluice-load and the arm's upstreams do not count
    as `other` either."""
    server = arm.server
    server.check_alive()
    server_cpus = server_cpus or [args.server_cpu]
    shared_cpu = args.load_cpu in server_cpus
    url = f"http://127.0.0.1:{server.port}{arm.path}"
    argv = ["taskset", "-c", str(args.load_cpu), str(args.loadgen), "--url", url,
            "--connections", str(args.connections), "--duration", f"{args.duration}s",
            "--warmup", f"{args.warmup}s", "--driver", args.loadgen_driver, "--json"]
    for header in arm.headers:
        argv += ["--header", header]
    proc = procs.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    messages: list[str] = []
    samples: dict[str, tuple[float, float, float, float]] = {}

    def sample() -> tuple[float, float, float, float]:
        return (
            server.cpu_seconds(),
            sum(upstream.cpu_seconds() for upstream in arm.upstreams),
            sum(cpu_busy_seconds(cpu) for cpu in server_cpus),
            process_cpu_seconds(proc.pid) if shared_cpu else 0.0,
        )

    # sluice-load prints a marker when the warmup ends and when the window closes; sampling
    # there makes the CPU time and the counted requests cover the same interval.
    for line in proc.stderr:
        line = line.rstrip("\n")
        if line == MARK_START:
            samples["start"] = sample()
        elif line == MARK_END:
            samples["end"] = sample()
        else:
            messages.append(line)
    stdout = proc.stdout.read()
    proc.wait()
    procs.children.remove(proc)
    for message in messages:
        print(f"    [{scenario} {arm.name}] {message}", file=sys.stderr)
    if proc.returncode != 0 or len(samples) != 2:
        raise BenchError(
            f"sluice-load against {server.name} {url} failed (status {proc.returncode}): "
            + " | ".join(messages)
        )
    server.check_alive()
    load = json.loads(stdout)
    if load["requests"] == 0:
        raise BenchError(f"no requests completed against {server.name} {url}")
    cpu, upstream_cpu, cpu_busy, loadgen_cpu = (
        e - s for e, s in zip(samples["end"], samples["start"])
    )
    ours = cpu + (upstream_cpu + loadgen_cpu if shared_cpu else 0.0)
    return Run(
        scenario,
        server.name,
        rnd,
        load,
        cpu,
        upstream_cpu if proxied(scenario) else None,
        cpu_busy - ours,
        arm.route,
    )


def proxied(scenario: str) -> bool:
    return scenario == "proxy" or scenario in COMPARISONS


def median_row(mine: list[Run], with_upstream: bool) -> dict:
    """Medians across rounds of one arm's runs."""

    def med(metric):
        return statistics.median(metric(r) for r in mine)

    row = {
        "rps": round(med(lambda r: r.load["rps"])),
        "p50_us": med(lambda r: r.load["p50_us"]),
        "p99_us": med(lambda r: r.load["p99_us"]),
        "p999_us": med(lambda r: r.load["p999_us"]),
        "cpu_us_per_req": round(med(lambda r: r.cpu_us_per_req), 3),
        "server_busy": round(med(lambda r: r.busy), 3),
        "errors": sum(r.load["errors"] for r in mine),
        "non_2xx": sum(r.load["non_2xx"] for r in mine),
    }
    if with_upstream:
        row["upstream_cpu_us_per_req"] = round(
            med(lambda r: r.upstream_cpu_s / r.load["requests"] * 1e6), 3
        )
    return row


def summarize(
    args: argparse.Namespace, runs: list[Run], jwks_server: jwks.JwksServer | None = None
) -> dict:
    """Medians across rounds per scenario and server (or route), and the ratios."""
    scenarios = {}
    for scenario in args.scenarios:
        if scenario in COMPARISONS:
            scenarios[scenario] = summarize_comparison(args, scenario, runs, jwks_server)
            continue
        per_server = {}
        for name in args.servers:
            mine = [r for r in runs if r.scenario == scenario and r.server == name]
            per_server[name] = median_row(mine, scenario == "proxy")
        entry: dict = {"servers": per_server}
        if "sluice" in per_server and "nginx" in per_server:
            s, n = per_server["sluice"], per_server["nginx"]
            cpu_ratio = s["cpu_us_per_req"] / n["cpu_us_per_req"]
            p99_ratio = s["p99_us"] / n["p99_us"]
            entry["ratios"] = {
                "cpu_per_req": round(cpu_ratio, 3),
                "cpu_per_req_goal": CPU_GOALS[scenario],
                "cpu_per_req_goal_met": cpu_ratio <= CPU_GOALS[scenario],
                "p99": round(p99_ratio, 3),
                "p99_goal": P99_GOAL,
                "p99_goal_met": p99_ratio <= P99_GOAL,
            }
        scenarios[scenario] = entry
    invalid = [label(r) for r in runs if r.load["errors"] or r.load["non_2xx"]]
    disturbed = [label(r) for r in runs if r.other > DISTURBED_OTHER]
    return {
        "statistic": "median across rounds (the mean of the two middle rounds when even)",
        "config": {
            "server_cpu": args.server_cpu,
            "load_cpu": args.load_cpu,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "rounds": args.rounds,
            "loadgen_driver": args.loadgen_driver,
            "nginx": nginx_version(args.nginx),
            "sluice": str(args.sluice) if "sluice" in args.servers else None,
            "clk_tck": CLK_TCK,
        },
        "scenarios": scenarios,
        "invalid_runs": invalid,
        "disturbed_runs": disturbed,
        "runs": [r.as_json() for r in runs],
    }


def summarize_comparison(
    args: argparse.Namespace,
    scenario: str,
    runs: list[Run],
    jwks_server: jwks.JwksServer | None,
) -> dict:
    cmp = COMPARISONS[scenario]
    mine = [r for r in runs if r.scenario == scenario]
    routes = {
        route: median_row([r for r in mine if r.route == route], True)
        for route in (cmp.base, cmp.route)
    }
    a, b = routes[cmp.base], routes[cmp.route]
    cpu_ratio = b["cpu_us_per_req"] / a["cpu_us_per_req"]
    ratios = {"of": f"{cmp.route} / {cmp.base}", "cpu_per_req": round(cpu_ratio, 3)}
    if cmp.goal is not None:
        ratios["cpu_per_req_goal"] = cmp.goal
        ratios["cpu_per_req_goal_met"] = cpu_ratio <= cmp.goal
    # No p99 goal: both routes share the process and the upstream, so p99 mostly follows
    # CPU per request and the machine's noise.
    ratios["p99"] = round(b["p99_us"] / a["p99_us"], 3)
    policies = cmp.policies.replace("{jwks_url}", jwks_server.url) if cmp.jwt else cmp.policies
    entry = {
        "server": mine[0].server,
        "shards": cmp.shards,
        "cpus": compare_cpus(args, cmp),
        "policies": f"[{policies}]",
        "routes": routes,
        "ratios": ratios,
    }
    if cmp.balancers:
        entry["load_balancers"] = dict(zip((cmp.base, cmp.route), cmp.balancers))
    if cmp.jwt:
        entry["jwks_fetches"] = jwks_server.fetches
    return entry


def print_tables(results: dict) -> None:
    rounds = results["config"]["rounds"]
    for scenario, entry in results["scenarios"].items():
        if scenario in COMPARISONS:
            print_comparison(scenario, entry, rounds)
            continue
        print(f"{scenario}: median of {plural(rounds, 'round')}")
        header = f"  {'server':<8}{'req/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}"
        header += f"{'CPU µs/req':>12}{'busy':>7}"
        proxy = scenario == "proxy"
        if proxy:
            header += f"{'upstream µs/req':>17}"
        print(header)
        for name, row in entry["servers"].items():
            line = (
                f"  {name:<8}{row['rps']:>10}{row['p50_us']:>9g}{row['p99_us']:>9g}"
                f"{row['p999_us']:>10g}{row['cpu_us_per_req']:>12.2f}{row['server_busy']:>7.0%}"
            )
            if proxy:
                line += f"{row['upstream_cpu_us_per_req']:>17.2f}"
            print(line)
        ratios = entry.get("ratios")
        if ratios:
            print(
                f"  sluice/nginx  CPU per request {ratios['cpu_per_req']:.2f} "
                f"(goal <= {ratios['cpu_per_req_goal']:.2f}: "
                f"{verdict(ratios['cpu_per_req_goal_met'])})   "
                f"p99 {ratios['p99']:.2f} "
                f"(goal <= {ratios['p99_goal']:.2f}: {verdict(ratios['p99_goal_met'])})"
            )
        print()
    if results["invalid_runs"]:
        print("WARNING: errors or non-2xx responses in: " + ", ".join(results["invalid_runs"]))
    if results["disturbed_runs"]:
        print(
            f"NOTE: more than {DISTURBED_OTHER:.0%} of the server CPU went to something else in: "
            + ", ".join(results["disturbed_runs"])
            + "; their req/s and latency say little, and CPU per request is inflated too"
        )


def print_comparison(scenario: str, entry: dict, rounds: int) -> None:
    cpus = ",".join(map(str, entry["cpus"]))
    print(
        f"{scenario}: median of {plural(rounds, 'round')} "
        f"({entry['server']}, {plural(entry['shards'], 'shard')} on CPU {cpus})"
    )
    width = max(8, *(len(route) for route in entry["routes"])) + 2
    print(
        f"  {'route':<{width}}{'req/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}"
        f"{'CPU µs/req':>12}{'busy':>7}{'upstream µs/req':>17}"
    )
    for route, row in entry["routes"].items():
        print(
            f"  {route:<{width}}{row['rps']:>10}{row['p50_us']:>9g}{row['p99_us']:>9g}"
            f"{row['p999_us']:>10g}{row['cpu_us_per_req']:>12.2f}{row['server_busy']:>7.0%}"
            f"{row['upstream_cpu_us_per_req']:>17.2f}"
        )
    ratios = entry["ratios"]
    goal = (
        f"goal <= {ratios['cpu_per_req_goal']:.2f}: {verdict(ratios['cpu_per_req_goal_met'])}"
        if "cpu_per_req_goal" in ratios
        else "no goal"
    )
    extra = f"   JWKS fetches {entry['jwks_fetches']}" if "jwks_fetches" in entry else ""
    print(
        # Three decimals: a policy's cost is a few percent, and 1.10 next to "NOT met" (for
        # 1.102) would read as a contradiction.
        f"  {ratios['of']}  CPU per request {ratios['cpu_per_req']:.3f} ({goal})"
        f"   p99 {ratios['p99']:.2f}{extra}"
    )
    print()


def label(run: Run) -> str:
    if run.route:
        return f"{run.scenario}{run.route}/round {run.round}"
    return f"{run.scenario}/{run.server}/round {run.round}"


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all threads), in seconds; FileNotFoundError when
    it is gone."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK


def cpu_busy_seconds(cpu: int) -> float:
    """Non-idle time of one CPU since boot, from /proc/stat, in seconds."""
    prefix = f"cpu{cpu} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            ticks = [int(x) for x in line.split()[1:9]]
            return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK
    raise BenchError(f"cpu{cpu} is not in /proc/stat")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_version(nginx: Path) -> str:
    out = subprocess.run([str(nginx), "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().removeprefix("nginx version: ")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


if __name__ == "__main__":
    sys.exit(main())
