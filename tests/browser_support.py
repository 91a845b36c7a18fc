"""What the browser tests and bench/load_test.py share: Debian's Chromium, how to launch it
headless, when a Streamlit page has finished its run, and a free loopback port.

Not a test module (pytest collects test_*.py only).
"""

import shutil
import socket
import subprocess
import time
import urllib.request

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
#: The app's root element once the script run is over.
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_run_args(port: int) -> list[str]:
    """``run app.py`` and the options of a headless test server on 127.0.0.1:``port``.

    Goes after ``python -m streamlit`` (or another entry point to Streamlit's CLI).
    """
    return [
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll Streamlit's health endpoint at ``url`` until it answers 200 (True), or until
    ``timeout`` seconds pass or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False
