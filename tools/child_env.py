"""The environment a candidate gets: a whitelist, fixed thread counts, and never a credential.

Also the second fence behind the jail: the values of the runner's own credentials are redacted from whatever
output of a child is kept, so a key that slipped through some other route is still not stored.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

_PASSED_THROUGH = ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_FIXED_ENV = {
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
REDACTED = "[redacted]"


def is_secret_name(name: str) -> bool:
    """True for variable names that look like credentials; they never reach a candidate."""
    return bool(_SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of this process's credential-like variables, longest first, for redacting captured output."""
    env = os.environ if environ is None else environ
    return sorted({v for k, v in env.items() if is_secret_name(k) and len(v) >= 6}, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value replaced: a second fence behind the jail, for what gets stored."""
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def scrubbed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A whitelisted environment for candidate code, plus `extra` minus anything named like a secret.

    HOME and TMPDIR are set later by `run_sandboxed` to the work dir.
    """
    env = {"PATH": os.environ.get("PATH", os.defpath)}
    env.update({k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ})
    env.update(_FIXED_ENV)
    for key, value in (extra or {}).items():
        if not is_secret_name(key):
            env[key] = str(value)
    return env


def python_argv(script: Path, *args: str) -> list[str]:
    """argv running `script` with this interpreter, unbuffered so a killed child's last lines are kept."""
    return [sys.executable, "-u", str(script), *map(str, args)]


