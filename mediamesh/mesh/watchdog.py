"""supervisord event listener: report every death, back-off and give-up of a part.

Writes one JSON line per event to the events file (read by `mediamesh status`) and to
stderr, in the same shape as the rest of the mesh's logs.
"""
from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from supervisor import childutils


def event_record(headers: dict[str, str], payload: dict[str, str]) -> dict[str, object]:
    kind = headers["eventname"].removeprefix("PROCESS_STATE_").lower()
    record: dict[str, object] = {
        "time": datetime.now(UTC).isoformat(),
        "event": f"part.{kind}",
        "part": payload.get("processname", ""),
        "from_state": payload.get("from_state", ""),
        "level": "info" if kind == "running" else "warning",
    }
    if "expected" in payload:
        record["expected"] = payload["expected"] == "1"
    if "pid" in payload:
        record["pid"] = int(payload["pid"])
    if "tries" in payload:
        record["tries"] = int(payload["tries"])
    return record


def main(events_path: Path) -> None:
    events_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        headers, body = childutils.listener.wait(sys.stdin, sys.stdout)
        payload = childutils.get_headers(body.split("\n", 1)[0])
        record = event_record(headers, payload)
        line = json.dumps(record)
        with events_path.open("a") as out:
            out.write(line + "\n")
        print(line, file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
