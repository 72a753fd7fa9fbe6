"""The image's HEALTHCHECK: exit 0 when this container's process answers ``GET /health``.

The engine (``polyarb run``) answers on HEALTH_PORT, the dashboard (``polyarb dashboard``) on
API_PORT; the engine with its embedded API answers on both. Either answering 200 is healthy. A port
set to 0 (off) is not tried. Standard library only: it runs with the image's Python, before and
without anything else.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def ports() -> list[int]:
    out = []
    for name, default in (("HEALTH_PORT", "8080"), ("API_PORT", "8000")):
        value = os.environ.get(name, default).strip() or default
        if value.isdigit() and int(value) > 0:
            out.append(int(value))
    return out


def healthy(port: int) -> str | None:
    """None when /health answered 200 on ``port``, else why not."""
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            return None if answer.status == 200 else f"{url}: HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


def main() -> int:
    reasons = []
    for port in ports():
        reason = healthy(port)
        if reason is None:
            return 0
        reasons.append(reason)
    print("unhealthy: " + ("; ".join(reasons) or "HEALTH_PORT and API_PORT are both 0"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
