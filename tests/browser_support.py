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


def start_server(root, *, capture: bool = True) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run app.py`` from ``root`` on a free loopback port, wait until healthy.

    Returns the process and its URL. Raises RuntimeError (with the end of the server's output
    when ``capture``) if it never becomes healthy. Stop it with :func:`stop_server`.
    """
    import sys

    out = subprocess.PIPE if capture else subprocess.DEVNULL
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", *streamlit_run_args(port)],
        cwd=root,
        stdout=out,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, proc):
        proc.kill()
        tail = proc.stdout.read().decode()[-2000:] if capture else ""
        raise RuntimeError("streamlit did not become healthy: " + tail)
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server from :func:`start_server` and close its output."""
    proc.terminate()
    proc.wait(timeout=20)
    if proc.stdout is not None:
        proc.stdout.close()
