"""`facecast serve`, `facecast worker` and `facecast config`. Hook into the main CLI with register(app)."""

from __future__ import annotations

import gc
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, cast

import typer

if TYPE_CHECKING:
    from .keys import KeyStore, Role
    from .library import Library
    from .settings import Settings

log = logging.getLogger("facecast.service")
GIL_SWITCH_S = 0.001  # how long a thread waits for the GIL before asking for it (Python: 0.005)
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (FACECAST_DATA_DIR)")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML settings file (FACECAST_CONFIG)")]


def _settings(data_dir: Path | None, config: Path | None, **overrides: object) -> Settings:
    """Settings from the environment and file, with command-line options written back to the environment
    so worker processes started from here see the same values. (Imported here: pydantic-settings costs every
    `facecast` command a fifth of a second, and the engine's commands never need it.)"""
    from .settings import CONFIG_ENV, Settings

    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    if data_dir is not None:
        os.environ["FACECAST_DATA_DIR"] = str(data_dir.resolve())
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"FACECAST_{name.upper()}"] = str(value)
    return Settings()


def serve(host: Annotated[Optional[str], typer.Option(help="Bind address (FACECAST_HOST)")] = None,
          port: Annotated[Optional[int], typer.Option(help="Port (FACECAST_PORT)")] = None,
          workers: Annotated[Optional[int], typer.Option(
              help="Worker processes to start (FACECAST_WORKER__PROCESSES); 0 runs the API only")] = None,
          data_dir: DataDirOpt = None, config: ConfigOpt = None,
          demo: Annotated[bool, typer.Option(help="Add the bundled demo template to the library if it is missing")] = False,
          ) -> None:
    """Run the HTTP API and its worker processes (SQLite and a local data directory unless configured)."""
    import uvicorn

    from facecast.cli_support import run_or_exit
    from facecast.serve import server_app

    if workers is not None:
        os.environ["FACECAST_WORKER__PROCESSES"] = str(workers)
    settings = _settings(data_dir, config, host=host, port=port)
    app = run_or_exit(lambda: server_app(settings))
    keys_exist = app.state.auth.required()
    _refuse_open_bind_without_keys(settings, keys_exist)
    if demo:
        run_or_exit(lambda: _add_demo_template(app.state.library))
    supervisor = WorkerSupervisor(settings)
    supervisor.start()
    typer.echo(f"facecast is serving on {settings.base_url}  (API docs {settings.base_url}/docs, "
               f"data in {settings.data_dir}; Ctrl+C stops)")
    if settings.webui and any(getattr(route, "path", "") == "/ui" for route in app.routes):
        typer.echo(f"web UI {settings.base_url}/ui")
    # uvicorn re-raises the signal that stopped it once it has drained, through the handler that was in
    # place before it started: with this one that is a no-op, so the workers are stopped and serve exits 0.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    _tune_for_latency()
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                    access_log=False)
    finally:
        supervisor.stop()


def _tune_for_latency() -> None:
    """The API process favours short pauses over throughput.

    What startup built (FastAPI, the web UI, SQLAlchemy's mappings: hundreds of thousands of objects that live as
    long as the process) is left out of garbage collection: each full collection scanned them all, a pause of
    about 0.3 s for every request in flight. And a thread waiting for the GIL gets it after 1 ms instead of 5: a
    database thread back from SQLite no longer waits out the event loop's turn (nor the loop a database thread's)
    several times per request.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_S)


def _add_demo_template(library: Library) -> None:
    """The bundled demo template, added once under the name 'demo' so a new user has something to try."""
    import shutil
    import tempfile

    from .. import assets
    from .problems import NotFoundError
    from .tenants import Caller

    shared = Caller()  # DEFAULT_TENANT: the shared library every key sees
    try:
        library.find_template(shared.own(), "demo")
        return
    except NotFoundError:
        pass
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "demo.mp4"
        shutil.copyfile(assets.DEMO_TEMPLATE, copy)
        template = library.add_template_file(shared, copy, "demo")
    typer.echo(f"added the demo template as {template.id} (name 'demo'); try it with the speech in {assets.DEMO_SPEECH}")


def worker(data_dir: DataDirOpt = None, config: ConfigOpt = None,
           lifeline_fd: Annotated[Optional[int], typer.Option(hidden=True, help=(
               "Set by `serve`: a pipe whose closing (serve ended, however) stops this worker"))] = None) -> None:
    """Run one worker process (start several for more concurrency, on this or other machines)."""
    from facecast.cli_support import run_or_exit

    from .worker import run_worker, stop_when_closed

    settings = _settings(data_dir, config)
    stop = threading.Event()
    if lifeline_fd is not None:
        stop_when_closed(lifeline_fd, stop)
    run_or_exit(lambda: run_worker(settings, stop=stop))


def config(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Print the effective settings as JSON, secrets masked."""
    print(json.dumps(_settings(data_dir, config).masked(), indent=2))


keys_app = typer.Typer(help="API keys kept in the database: each key is a tenant with its own templates, "
                            "audio and videos (config api_keys stay admin keys)", no_args_is_help=True)


def _key_store(settings: Settings) -> KeyStore:
    from .db.session import Database
    from .keys import KeyStore

    db = Database(settings.effective_database_url)
    db.migrate()
    return KeyStore(db)


def _per_minute(rate: str | None) -> int | None:
    """"120/min", "2/s", "600/h" or a bare "120" (per minute) as requests per minute."""
    from facecast.cli_support import fail

    if rate is None:
        return None
    count, _, unit = rate.strip().partition("/")
    seconds = {"": 60, "min": 60, "m": 60, "s": 1, "sec": 1, "h": 3600, "hour": 3600}.get(unit.strip().lower())
    if seconds is None or not count.strip().isdigit() or int(count) < 1:
        raise fail(f"--rate-limit takes N/min (or N/s, N/h), e.g. 120/min; got {rate!r}")
    return max(1, round(int(count) * 60 / seconds))


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option("--name", help="What the key is for (shown in lists)")],
                role: Annotated[str, typer.Option(help="admin sees every tenant's data; user only its own")] = "user",
                rate_limit: Annotated[Optional[str], typer.Option(
                    "--rate-limit", help="Requests per minute, e.g. 120/min; default key_limits in settings")] = None,
                max_active_jobs: Annotated[Optional[int], typer.Option(
                    min=1, help="Queued + running videos at once; default key_limits in the settings")] = None,
                data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Create a key and print it as JSON, with its webhook secret. The key is shown this once only."""
    from facecast.cli_support import fail

    from .keys import ROLES

    if role not in ROLES:
        raise fail(f"--role is {' or '.join(ROLES)}, got {role!r}")
    per_minute = _per_minute(rate_limit)
    store = _key_store(_settings(data_dir, config))
    info, key, secret = store.create(name, cast("Role", role), per_minute, max_active_jobs)
    print(json.dumps({**_key_json(info), "key": key, "webhook_secret": secret}))


@keys_app.command("list")
def keys_list(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Print every key (revoked ones too) as JSON lines, without the keys themselves."""
    for info in _key_store(_settings(data_dir, config)).list():
        print(json.dumps(_key_json(info)))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...)")],
                data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Revoke a key: running servers refuse it within seconds; what it created stays."""
    from facecast.cli_support import run_or_exit

    info = run_or_exit(lambda: _key_store(_settings(data_dir, config)).revoke(key_id))
    print(json.dumps(_key_json(info)))


def _key_json(info: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(info)  # type: ignore[call-overload]


def register(app: typer.Typer) -> None:
    """Add serve, worker, config and keys to the main facecast CLI."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("config")(config)
    app.add_typer(keys_app, name="keys")


def _refuse_open_bind_without_keys(settings: Settings, keys_required: bool) -> None:
    """Without any key (config or database) the server is open to whoever reaches it: loopback only."""
    from facecast.cli_support import fail

    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if not loopback and not keys_required and not settings.allow_unauthenticated:
        raise fail(f"binding {settings.host} without API keys would let anyone on the network run jobs; "
                   "create one with `facecast keys create --name NAME`, set FACECAST_API_KEYS='[\"...\"]' "
                   "or allow_unauthenticated=true")
    if keys_required:
        typer.echo("authentication: on (requests need an API key: config api_keys or `facecast keys`)")
    else:
        typer.echo(f"authentication: off (no API keys; anyone who can reach {settings.host} may call the API"
                   f"{'' if loopback else ', allowed by allow_unauthenticated'})")


class WorkerSupervisor:
    """Starts the configured worker processes and restarts any that exit until stopped."""

    def __init__(self, settings: Settings) -> None:
        gpus = settings.worker.gpus
        self.slots: list[dict[str, str]] = ([{"CUDA_VISIBLE_DEVICES": str(g)} for g in gpus] if gpus
                                            else [{} for _ in range(settings.worker.processes)])
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * len(self.slots)
        # Workers hold the read end; the write end lives as long as this process, so its end (even kill -9)
        # is seen by every worker as end-of-file, whichever thread started them.
        self._lifeline, self._lifeline_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="facecast-supervisor")

    def _spawn(self, index: int) -> None:
        env = {**os.environ, **self.slots[index]}
        command = [sys.executable, "-m", "facecast.service", "worker", "--lifeline-fd", str(self._lifeline)]
        self.processes[index] = subprocess.Popen(command, env=env, pass_fds=(self._lifeline,))

    def start(self) -> None:
        for index in range(len(self.slots)):
            self._spawn(index)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for index, process in enumerate(self.processes):
                if process is not None and process.poll() is not None and not self._stop.is_set():
                    try:  # crashed or killed: the sweep recovers its job, this replaces the slot
                        self._spawn(index)
                    except Exception as exc:  # out of memory or pids: keep watching, try again next round
                        log.error("could not restart worker %d (%s: %s); retrying", index, type(exc).__name__, exc)

    def stop(self) -> None:
        self._stop.set()
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self.processes:
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
