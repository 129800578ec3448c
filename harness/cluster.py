"""A local cluster on real parts: `python -m harness.cluster --workers N --port P`.

It starts a private `redis-server` on a free loopback port (unless REDIS_URL names one), N server processes
(`python -m realtime`, each with its own NODE_NAME) on free loopback ports, and nginx on P as the load
balancer, configured from deploy/nginx.conf. Every child's output goes to stdout, each line prefixed with
its name. A worker that exits is started again, with a line saying so; Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from harness.processes import ROOT, RedisProcess, ServerError, ServerProcess, free_port
from realtime.config import Config

TEMPLATE = ROOT / "deploy" / "nginx.conf"
SPARE_CONNECTIONS = 256  # nginx connections beyond two per client (one in, one to a worker)
RESTART_DELAY_S = 1.0
MAX_BODY = "2m"  # over the workers' MAX_MESSAGE_BYTES (1 MB): they answer 413 themselves

_print_lock = threading.Lock()


def say(name: str, line: str) -> None:
    """Print one line of the cluster's log, prefixed with who said it."""
    with _print_lock:
        sys.stdout.write(f"{name:>7} | {line}\n")
        sys.stdout.flush()


def relay(name: str, stream: Path, stop: threading.Event) -> None:
    """Follow a child's log file and print each new line with the child's name (until `stop`)."""
    with open(stream, "rb") as source:
        pending = b""
        while True:
            chunk = source.read(65536)
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    say(name, line.decode("utf-8", "replace"))
            elif stop.is_set():
                return
            else:
                time.sleep(0.05)


def render_nginx(
    workers: Sequence[tuple[str, int]], listen: str, run_dir: Path, connections: int, header_timeout: float
) -> str:
    """Fill deploy/nginx.conf in for `workers` ((node name, port) pairs) behind `listen`."""
    # max_fails=0: a worker that refuses a connection (restarting) is skipped for that request only. With
    # nginx's default, one refusal benches it for 10 s, and a burst of reconnections can bench them all.
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=0;" for _, port in workers)
    upstreams = []
    for name, port in workers:
        backups = "".join(
            f" server 127.0.0.1:{other} max_fails=0 backup;" for n, other in workers if n != name
        )
        upstreams.append(f"    upstream node_{name} {{ server 127.0.0.1:{port} max_fails=0;{backups} }}")
    fields = {
        "user": "user root;" if os.geteuid() == 0 else "",
        "run_dir": str(run_dir),
        "worker_connections": str(connections),
        "open_files": str(2 * connections + 64),
        "max_body": MAX_BODY,
        "header_timeout": f"{max(1, round(header_timeout))}s",
        "servers": servers,
        "node_upstreams": "\n".join(upstreams),
        "node_map": "\n".join(f"        {name} node_{name};" for name, _ in workers),
        "listen": listen,
    }
    text = TEMPLATE.read_text()
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", value)
    return text


class Cluster:
    """Redis, the workers and nginx, started together and stopped together."""

    def __init__(
        self,
        workers: int,
        host: str,
        port: int,
        run_dir: Path,
        env: dict[str, str] | None = None,
        relay: bool = True,
    ) -> None:
        self.run_dir = run_dir
        self.relay = relay  # print the children's logs (a benchmark keeps them in their files)
        self.host = host
        self.port = port
        self.env = dict(env or {})
        self.redis: RedisProcess | None = None
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.workers = [
            ServerProcess(run_dir / f"w{i}.log", env=self._worker_env(f"w{i}"), port=free_port())
            for i in range(1, workers + 1)
        ]
        self.nginx: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self._relays: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """Return the balancer's address."""
        return f"http://{self.host}:{self.port}"

    def _worker_env(self, name: str) -> dict[str, str]:
        """Return a worker's environment: this one's, its node name, the balancer trusted as its proxy."""
        return {"NODE_NAME": name, "TRUSTED_PROXIES": "127.0.0.1", **self.env}

    def _follow(self, name: str, log: Path) -> None:
        """Relay a child's log to stdout."""
        log.touch()
        if not self.relay:
            return
        thread = threading.Thread(target=relay, args=(name, log, self.stopping), daemon=True)
        thread.start()
        self._relays.append(thread)

    def start(self) -> None:
        """Start Redis (unless given), the workers, then nginx; stop everything again if any fails."""
        try:
            if not self.redis_url:
                self.redis = RedisProcess(self.run_dir / "redis")
                self.redis.own_session = True
                self.redis.folder.mkdir(parents=True, exist_ok=True)
                self._follow("redis", self.redis.log)
                self.redis.start()
                self.redis_url = self.redis.url
            for worker in self.workers:
                worker.env["REDIS_URL"] = self.redis_url
                worker.own_session = True
                self._follow(worker.env["NODE_NAME"], worker.log)
            for worker in self.workers:
                worker.start()
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        say(
            "cluster",
            f"{len(self.workers)} workers behind nginx on {self.url}, message queue {self.redis_url}",
        )

    def _start_nginx(self) -> None:
        """Write the filled-in nginx.conf and start nginx in the foreground, on the cluster's port."""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / folder).mkdir(exist_ok=True)
        settings = Config.from_env({**os.environ, **self.env})  # what the workers read
        connections = 2 * settings.MAX_CONNECTIONS * len(self.workers) + SPARE_CONNECTIONS
        conf = self.run_dir / "nginx.conf"
        pairs = [(w.env["NODE_NAME"], w.port) for w in self.workers]
        listen = f"{self.host}:{self.port}"
        conf.write_text(render_nginx(pairs, listen, self.run_dir, connections, settings.HEADER_TIMEOUT))
        log = self.run_dir / "nginx.log"
        self._follow("nginx", log)
        with open(log, "ab") as out:
            self.nginx = subprocess.Popen(
                [nginx, "-p", str(self.run_dir), "-c", str(conf), "-e", "stderr"],
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                raise ServerError(f"nginx exited with {self.nginx.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise ServerError(f"nginx did not answer on {self.url} within 20 s")

    def watch(self) -> None:
        """Until stopped: start again, with a line saying so, any worker that exits."""
        while not self.stopping.wait(0.5):
            for worker in self.workers:
                code = worker.process.poll() if worker.process else None
                if code is not None and not self.stopping.is_set():
                    name = worker.env["NODE_NAME"]
                    say("cluster", f"{name} exited with status {code}: starting it again")
                    time.sleep(RESTART_DELAY_S)
                    try:
                        worker.start()
                        say("cluster", f"{name} is back on port {worker.port}")
                    except ServerError as exc:
                        say("cluster", f"{name} did not come back: {str(exc).splitlines()[0]}")
            if self.nginx is not None and self.nginx.poll() is not None and not self.stopping.is_set():
                say("cluster", f"nginx exited with status {self.nginx.returncode}: stopping the cluster")
                return

    def stop(self) -> None:
        """Stop nginx, the workers and Redis (each politely, then for sure)."""
        self.stopping.set()
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(timeout=10)
        for worker in self.workers:
            worker.stop()
        if self.redis is not None:
            self.redis.stop()
        for thread in self._relays:
            thread.join(timeout=2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.cluster",
        description=(
            "Run N server processes behind nginx, sharing a Redis message queue (a private redis-server "
            "unless REDIS_URL is set). Every other setting is read from the environment by each worker."
        ),
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or 5000),
        help="nginx's port (default $PORT or 5000)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be from 1 to 64")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the cluster until Ctrl-C or SIGTERM."""
    args = parse_args(argv)
    for tool in ("redis-server", "nginx"):
        needed = tool != "redis-server" or not os.environ.get("REDIS_URL")
        if needed and not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            print(
                f"python -m harness.cluster: error: {tool} is missing (apt-get install {tool})",
                file=sys.stderr,
            )
            raise SystemExit(2)
    run_dir = Path(tempfile.mkdtemp(prefix="realtime-cluster-"))
    run_dir.chmod(0o755)
    cluster = Cluster(args.workers, args.host, args.port, run_dir)
    signal.signal(signal.SIGTERM, lambda *_: cluster.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: cluster.stopping.set())
    try:
        cluster.start()
        cluster.watch()
    except ServerError as exc:
        print(f"python -m harness.cluster: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        say("cluster", "stopping")
        cluster.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
