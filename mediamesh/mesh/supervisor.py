"""Run the mesh's parts under supervisord (a well-kept process supervisor).

Why supervisord: restarts with back-off, process groups killed as a whole (Triton's
python-backend stubs), log files with rotation and an XML-RPC control socket, all from pip.
One supervisord per mesh, its socket and files under the mesh's state dir, so two meshes on
one machine never see each other. A small event listener (`mediamesh.mesh.watchdog`) writes
every exit/back-off/fatal of a part as a JSON line, which `mediamesh status` reports.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from mediamesh.config import SOURCE_ROOT, Settings
from mediamesh.mesh.parts import Part

_MAX_UNIX_SOCKET_PATH = 100
#: supervisord programs that watch the mesh rather than being parts of it
HELPERS = frozenset({"watchdog", "liveness"})


class SupervisorNotRunning(RuntimeError):
    """No supervisord answers for this mesh's state dir."""


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str  # RUNNING, STARTING, BACKOFF, EXITED, FATAL, STOPPED...
    pid: int
    uptime_s: int
    description: str


def logs_dir(settings: Settings) -> Path:
    return settings.state_dir / "logs"


def events_file(settings: Settings) -> Path:
    return logs_dir(settings) / "events.jsonl"


def socket_path(settings: Settings) -> Path:
    """Inside the state dir, or a short hashed path in /tmp when that would be too long."""
    path = settings.state_dir / "supervisor.sock"
    if len(str(path)) <= _MAX_UNIX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(settings.state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mediamesh-{digest}.sock"


def _esc(value: object) -> str:
    """supervisord expands %(name)s in values: a literal % must be doubled."""
    return str(value).replace("%", "%%")


def _quote_env(environment: dict[str, str]) -> str:
    """KEY="value",... as supervisord parses it (its lexer has no escape for a quote)."""
    for key, value in environment.items():
        if '"' in value:
            raise ValueError(f"environment value of {key} contains a double quote, which "
                             f"supervisord cannot carry: {value!r}")
    return ",".join(f'{k}="{_esc(v)}"' for k, v in environment.items())


def _program(part: Part, settings: Settings) -> str:
    command = _esc(" ".join(_shell_word(w) for w in part.command))
    env = {"MEDIAMESH_PART": part.name, "PYTHONUNBUFFERED": "1", **part.environment}
    return f"""
[program:{part.name}]
command={command}
directory={_esc(settings.state_dir)}
priority={part.priority}
autostart=true
autorestart=true
startsecs=2
startretries=8
stopsignal=TERM
stopwaitsecs={part.stop_wait_s}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={_esc(logs_dir(settings) / (part.name + '.log'))}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=3
environment={_quote_env(env)}
"""


def _shell_word(word: str) -> str:
    return f'"{word}"' if any(c in word for c in " \t;") else word


def render_config(parts: Sequence[Part], settings: Settings) -> str:
    """supervisord.conf for this mesh."""
    sock = socket_path(settings)
    watchdog = _esc(f"{sys.executable} -m mediamesh.mesh.watchdog {events_file(settings)}")
    liveness = _esc(f"{sys.executable} -m mediamesh.mesh.liveness --config "
                    f"{_shell_word(str(settings.resolved_config_path))}")
    logs = logs_dir(settings)
    header = f"""
[unix_http_server]
file={_esc(sock)}
chmod=0700

[supervisord]
logfile={_esc(logs / 'supervisord.log')}
pidfile={_esc(settings.state_dir / 'supervisord.pid')}
childlogdir={_esc(logs)}
identifier=mediamesh-{settings.port_base}
directory={_esc(settings.state_dir)}
nodaemon=false
silent=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_esc(sock)}

[eventlistener:watchdog]
command={watchdog}
events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL,PROCESS_STATE_RUNNING
autorestart=true
priority=1
stderr_logfile={_esc(logs / 'watchdog.log')}

[program:liveness]
command={liveness}
directory={_esc(settings.state_dir)}
priority=90
autostart=true
autorestart=true
redirect_stderr=true
stdout_logfile={_esc(logs / 'liveness.log')}
environment=PYTHONPATH="{_esc(SOURCE_ROOT)}"
"""
    return header + "".join(_program(p, settings) for p in parts)


class MeshSupervisor:
    """Control of one mesh's supervisord over its unix socket."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config_path = settings.state_dir / "supervisord.conf"

    @property
    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{socket_path(self.settings)}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def is_running(self) -> bool:
        try:
            return self._rpc.supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start(self, parts: Sequence[Part]) -> None:
        """Write the config and start supervisord (it daemonises and starts every part)."""
        logs_dir(self.settings).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(parts, self.settings))
        if self.is_running():
            self._rpc.supervisor.reloadConfig()
            self._rpc.supervisor.startAllProcesses(False)
            return
        sock = socket_path(self.settings)
        if sock.exists():
            sock.unlink()  # stale socket of a crashed supervisord
        supervisord = Path(sys.executable).parent / "supervisord"
        subprocess.run([str(supervisord), "-c", str(self.config_path)], check=True,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 10
        while not self.is_running():
            if time.monotonic() > deadline:
                raise SupervisorNotRunning(
                    f"supervisord did not come up; see {logs_dir(self.settings)/'supervisord.log'}")
            time.sleep(0.1)

    def processes(self) -> list[ProcessInfo]:
        try:
            infos = self._rpc.supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Fault) as exc:
            raise SupervisorNotRunning(f"no mesh is running for state dir "
                                       f"{self.settings.state_dir}") from exc
        return [ProcessInfo(i["name"], i["statename"], int(i["pid"]),
                            max(0, int(i["now"]) - int(i["start"])) if i["pid"] else 0,
                            i["description"]) for i in infos if i["group"] not in HELPERS]

    def kill(self, name: str) -> None:
        """SIGKILL a part (its process group); supervisord sees the exit and restarts it."""
        self._rpc.supervisor.signalProcess(name, "KILL")

    def stop_part(self, name: str) -> None:
        """Stop one part gracefully and keep it stopped (until start_part)."""
        self._rpc.supervisor.stopProcess(name, True)

    def start_part(self, name: str) -> None:
        self._rpc.supervisor.startProcess(name, True)

    def restart(self, name: str) -> None:
        rpc = self._rpc
        rpc.supervisor.stopProcess(name, True)
        rpc.supervisor.startProcess(name, True)

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop every part (gracefully, SIGTERM then SIGKILL), then supervisord itself."""
        if not self.is_running():
            return False
        rpc = self._rpc
        pid = int(rpc.supervisor.getPID())
        try:
            rpc.supervisor.stopAllProcesses(True)
            rpc.supervisor.shutdown()
        except (OSError, xmlrpc.client.Fault):
            pass
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
