"""Load test: many concurrent browser sessions against ONE `streamlit run app.py` server.

    python bench/load_test.py [--sessions 8] [--rows 5000] [--rounds 3]

Every session (its own Playwright browser context, so its own cookies, websocket and Streamlit
session) goes to Data, uploads a CSV that no other session has (its own file name, its own
column names, its own row count and cluster count), goes to Fit and sets K to its own cluster
count (the fit is live). It then checks that it sees only its own data and results: its file
name in the summary line, its column names on the page and in the downloaded parameters (JSON)
and labelled rows (CSV), its own K, and none of the other sessions' file or column names
anywhere in the page's HTML. Exception boxes, error alerts, uncaught page errors and console
errors are counted.

Memory is the server process's resident set (VmRSS from /proc, children included), sampled every
0.2 s for the peak. The round runs several times (--rounds). After the warm-up session (the
baseline) and after every round, once the closed sessions have been dropped (below), it is
measured three times: as it is, after gc.collect() and after malloc_trim(0). The server
runs through the small wrapper INTROSPECT, which is `streamlit run` plus two signal handlers
that the script uses for those steps and to count the live sessions, session states, data
sets and fits, and Python's allocated memory blocks (--no-introspect: plain
`python -m streamlit run`, RSS only). Streamlit's own accounting (/_stcore/metrics:
st.cache_data, uploads, download payloads) is printed as well. See ``memory_verdict`` for the
criteria.

Why the server runs with a short ``server.disconnectedSessionTTL``: Streamlit does not free a
session when its websocket closes. It keeps the whole session (session state, uploaded files,
download payloads) for ``disconnectedSessionTTL`` seconds (120 by default) so a reconnecting
browser can resume it, and even after that it only drops expired sessions when another session
disconnects (the store is reaped on write, there is no timer). So after each round this script
waits out the TTL and then opens and closes one small "probe" session, which reaps the round's
sessions; the baseline is measured the same way (after a probe), so both figures include exactly
one lingering probe session.

Chromium is Debian's (/usr/bin/chromium) through Playwright's async API: one browser, one
context per session, all in one event loop. Never `playwright install`.
Everything is bounded by timeouts, and the server is always killed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    free_port,
    streamlit_run_args,
    wait_healthy,
)

MB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# The server and its memory
# --------------------------------------------------------------------------------------------


# `python -c INTROSPECT run app.py ...` is `streamlit run app.py ...` (the same CLI entry point
# as `python -m streamlit`) plus two signal handlers through which the load test looks inside
# the server between rounds. SIGUSR1: count the live objects that make up a session, run
# gc.collect(), count again. SIGUSR2: give freed memory back to the OS (Arrow's pool, then
# malloc_trim(0)) and report what glibc malloc still has in use and keeps free (mallinfo2).
INTROSPECT = r"""
import ctypes, gc, json, os, signal, sys, threading
OUT = os.environ["GMM_LOAD_TEST_INTROSPECT"]
WATCH = {
    "streamlit.runtime.app_session.AppSession": "sessions",
    "streamlit.runtime.state.session_state.SessionState": "session states",
    "pages.ui.state.Dataset": "data sets",
    "gmm_core.dashboard.fitting.FitResult": "fits",
}
def count():
    found = dict.fromkeys(WATCH.values(), 0)
    for o in gc.get_objects():
        t = type(o)
        module, name = t.__dict__.get("__module__"), getattr(t, "__qualname__", None)
        if isinstance(module, str) and isinstance(name, str):
            key = WATCH.get(module + "." + name)
            if key:
                found[key] += 1
    return found
def write(make):
    try:
        payload = make()
    except Exception as exc:  # never let a diagnostic take the server down
        payload = {"error": repr(exc)}
    with open(OUT + ".tmp", "w") as f:
        json.dump(payload, f)
    os.replace(OUT + ".tmp", OUT)
def usr1():
    before = count()
    collected = gc.collect()
    alive, blocks = count(), sys.getallocatedblocks()
    return {"before_gc": before, "collected": collected, "alive": alive, "blocks": blocks,
            "threads": threading.active_count()}
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
def usr2():
    answer = {}
    if "pyarrow" in sys.modules:  # st.dataframe goes through Arrow; its pool is mimalloc
        pool = sys.modules["pyarrow"].default_memory_pool()
        pool.release_unused()
        answer["arrow"] = pool.bytes_allocated()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim(0)
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    answer["malloc_used"] = info.uordblks + info.hblkhd  # live malloc'd bytes
    answer["malloc_free"] = info.fordblks  # freed but kept by malloc
    return answer
signal.signal(signal.SIGUSR1, lambda signum, frame: write(usr1))
signal.signal(signal.SIGUSR2, lambda signum, frame: write(usr2))
from streamlit.web.cli import main
main(prog_name="streamlit")
"""


class Server:
    """`streamlit run app.py` in its own process group, output to a log file."""

    instances: ClassVar[list[Server]] = []

    def __init__(
        self,
        session_ttl: int,
        log_path: Path,
        env: dict[str, str] | None = None,
        introspect: bool = True,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.introspect_path = log_path.with_name("introspect.json") if introspect else None
        env = {**os.environ, **(env or {})}
        if introspect:
            env["GMM_LOAD_TEST_INTROSPECT"] = str(self.introspect_path)
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *(["-c", INTROSPECT] if introspect else ["-m", "streamlit"]),
                *streamlit_run_args(self.port),
                "--server.disconnectedSessionTTL",
                str(session_ttl),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills all of it
        )
        Server.instances.append(self)

    def ask(self, sig: int, timeout: float = 60) -> dict:
        """Send SIGUSR1/SIGUSR2 to the introspecting server and return its answer."""
        assert self.introspect_path is not None
        self.introspect_path.unlink(missing_ok=True)
        os.kill(self.proc.pid, sig)
        deadline = time.monotonic() + timeout
        while not self.introspect_path.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the server did not answer signal {sig}")
            time.sleep(0.1)
        answer = json.loads(self.introspect_path.read_text())
        if "error" in answer:
            raise RuntimeError(f"the server's introspection failed: {answer['error']}")
        return answer

    def wait_healthy(self, timeout: float = 60) -> None:
        if not wait_healthy(self.url, self.proc, timeout):
            raise RuntimeError("streamlit did not become healthy:\n" + self.log_tail())

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                kids += [int(c) for c in text.split()]
    return kids


def _vmrss_kb(pid: int, field: str = "VmRSS") -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants, in MB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _vmrss_kb(p)
        todo += _children(p)
    return total / 1024


class Sampler(threading.Thread):
    """Samples the server's RSS every ``interval`` seconds; ``peak_since(t)`` for a window."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            with self._lock:
                self.samples.append((time.monotonic(), value))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()

    def peak_since(self, t0: float) -> float:
        with self._lock:
            return max((v for t, v in self.samples if t >= t0), default=0.0)


def settled_rss(pid: int, timeout: float, window: float = 3.0, band: float = 1.0) -> float:
    """Poll RSS until it has moved less than ``band`` MB over ``window`` seconds (or timeout)."""
    deadline = time.monotonic() + timeout
    history: list[tuple[float, float]] = []
    while True:
        now, value = time.monotonic(), rss_mb(pid)
        history.append((now, value))
        recent = [v for t, v in history if t >= now - window]
        if now - history[0][0] >= window and max(recent) - min(recent) < band:
            return value
        if now >= deadline:
            return value
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------
# One browser session
# --------------------------------------------------------------------------------------------


@dataclass
class SessionSpec:
    index: int
    round: int
    rows: int
    k: int
    file_name: str
    columns: tuple[str, str]
    csv: bytes
    first_row: tuple[float, float]


def make_spec(index: int, rnd: int, base_rows: int) -> SessionSpec:
    """Session ``index`` of round ``rnd``: its own names, rows, clusters and values."""
    rng = np.random.default_rng(1000 * rnd + index)
    k = index + 2
    rows = base_rows + 17 * index + rnd  # distinct per session (and per round)
    angles = 2 * np.pi * np.arange(k) / k
    centers = 10 * np.column_stack([np.cos(angles), np.sin(angles)]) + 100 * (index + 1)
    labels = rng.integers(0, k, rows)
    X = centers[labels] + rng.normal(scale=1.0, size=(rows, 2))
    columns = (f"sess{index:02d}_width", f"sess{index:02d}_height")
    text = ",".join(columns) + "\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in X) + "\n"
    first = tuple(float(f"{v:.5f}") for v in X[0])
    return SessionSpec(
        index, rnd, rows, k, f"load_s{index:02d}_r{rnd}.csv", columns, text.encode(), first
    )


@dataclass
class SessionResult:
    index: int
    ok: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failure: str | None = None
    step: str = "start"
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    _since: float = field(default_factory=time.monotonic)

    def begin(self, step: str) -> None:
        """Close the current step's clock and start ``step``'s."""
        now = time.monotonic()
        if self.step != "start":
            self.steps[self.step] = now - self._since
        self.step, self._since = step, now


async def settle(page, timeout: float = 120_000) -> None:
    """Wait until the script has run (it may start a moment after an interaction)."""
    await page.wait_for_timeout(400)
    await page.wait_for_selector(IDLE, timeout=timeout)


async def go_to(page, label: str) -> None:
    await page.locator("header a", has_text=label).first.click()
    await settle(page)


async def count_error_boxes(page) -> list[str]:
    found = []
    for selector in ("[data-testid=stException]", "[data-testid=stAlertContentError]"):
        for text in await page.locator(selector).all_inner_texts():
            found.append(f"{selector}: {text.strip()[:300]}")
    return found


def foreign_tokens(spec: SessionSpec, n_sessions: int) -> list[str]:
    """Names only other sessions' data carry (any round)."""
    tokens = []
    for j in range(n_sessions):
        if j != spec.index:
            tokens += [f"sess{j:02d}_", f"load_s{j:02d}_"]
    return tokens


async def download(page, label: str) -> bytes:
    async with page.expect_download() as info:
        await page.locator("[data-testid=stDownloadButton] button", has_text=label).click()
    dl = await info.value
    path = await dl.path()
    return Path(path).read_bytes()


async def check_isolation(
    page, spec: SessionSpec, n_sessions: int, where: str, *, sidebar: bool, columns: bool
) -> list[str]:
    """No other session's names anywhere in the page's HTML (SVG text of the charts included);
    optionally the session's own columns on the page and its own file in the sidebar."""
    problems = []
    html = await page.content()
    for token in foreign_tokens(spec, n_sessions):
        if token in html:
            problems.append(f"{where}: another session's name {token!r} is on the page")
    for column in spec.columns if columns else ():  # the check can see column names at all
        if column not in html:
            problems.append(f"{where}: own column {column} is not on the page")
    if not sidebar:
        return problems
    summary = await page.locator(
        "[data-testid=stCaptionContainer]", has_text="Data:"
    ).first.inner_text()
    if spec.file_name not in summary:
        problems.append(f"{where}: own file {spec.file_name} not in the summary line")
    if f"{spec.rows:,} rows" not in summary:
        problems.append(f"{where}: own row count {spec.rows:,} not in the summary line")
    return problems


async def run_session(browser, url: str, spec: SessionSpec, n_sessions: int, out: Path):
    result = SessionResult(spec.index)
    t0 = time.monotonic()
    context = await browser.new_context(
        viewport={"width": 1400, "height": 1100}, accept_downloads=True
    )
    context.set_default_timeout(120_000)
    page = await context.new_page()

    expected_rejections = [0]

    def on_console(message) -> None:
        if message.type == "error":
            result.errors.append(f"console: {message.text[:300]}")
        elif "API call to Plotly.animate rejected" in message.text:
            # Pause (the page presses it before a change redraws the chart) interrupts Play;
            # plotly.js then leaves the interrupted animate() promise rejected with `undefined`.
            expected_rejections[0] += 1

    def on_page_error(error) -> None:
        if str(error) == "undefined" and expected_rejections[0] > 0:
            expected_rejections[0] -= 1
            return
        result.errors.append(f"uncaught: {str(error)[:300]}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        result.begin("open")
        await page.goto(url)
        await settle(page)
        # The app opens on Fit with the built-in sample and fits it once by itself.
        await page.get_by_text("Fitted: K =").first.wait_for()

        result.begin("upload")
        await go_to(page, "Data")
        await page.locator(".st-key-data_source").get_by_role("radio", name="Upload a file").click()
        await settle(page)
        await page.locator("input[type=file]").set_input_files(
            {"name": spec.file_name, "mimeType": "text/csv", "buffer": spec.csv}
        )
        await page.get_by_role("heading", name=spec.file_name).wait_for()
        await settle(page)
        multiselect = await page.locator("[data-testid=stMultiSelect]").first.inner_text()
        for column in spec.columns:
            if column not in multiselect:
                result.violations.append(f"data page: own column {column} not in the selection")
        result.violations += await check_isolation(
            page, spec, n_sessions, "data page", sidebar=False, columns=True
        )
        result.errors += await count_error_boxes(page)

        result.begin("to Fit")
        await go_to(page, "Fit")
        result.violations += await check_isolation(
            page, spec, n_sessions, "fit page (before)", sidebar=True, columns=False
        )
        k_input = page.locator(".st-key-fit_n_components input")
        result.begin("fit")
        await k_input.fill(str(spec.k))
        await k_input.press("Enter")  # live: the change itself refits
        await page.get_by_text(f"Fitted: K = {spec.k},").first.wait_for()
        await settle(page)
        result.errors += await count_error_boxes(page)
        if result.errors:
            raise RuntimeError("error on the Fit page")
        await page.wait_for_selector(".js-plotly-plot")
        result.violations += await check_isolation(
            page, spec, n_sessions, "fit page", sidebar=True, columns=True
        )
        warnings = await page.locator("[data-testid=stAlertContentWarning]").all_inner_texts()
        result.violations += [f"fit page warning: {w.strip()[:200]}" for w in warnings]
        iterations = await page.locator("[data-testid=stMetricValue]").first.inner_text()
        if not iterations.strip().isdigit():
            result.violations.append(f"fit page: iterations metric reads {iterations!r}")

        result.begin("downloads")
        params = json.loads(await download(page, "Parameters and history (JSON)"))
        if params["features"] != list(spec.columns):
            result.violations.append(f"JSON: features {params['features']} != {spec.columns}")
        if params["settings"]["n_components"] != spec.k or len(params["fitted"]["means"]) != (
            spec.k
        ):
            result.violations.append(f"JSON: fitted K != {spec.k}")

        rows = list(csv.reader(io.StringIO((await download(page, "Rows with labels")).decode())))
        header, body = rows[0], rows[1:]
        missing = [c for c in [*spec.columns, "component"] if c not in header]
        if missing:
            result.violations.append(f"CSV: header {header} lacks {missing}")
        if len(body) != spec.rows:
            result.violations.append(f"CSV: {len(body)} rows, expected {spec.rows}")
        else:
            first = [body[0][header.index(c)] for c in spec.columns[:2]]
            if tuple(round(float(v), 5) for v in first) != spec.first_row:
                result.violations.append(f"CSV: first row {first} is not {spec.first_row}")

        await page.wait_for_timeout(300)  # let late console messages arrive
        result.begin("done")
        result.ok = not result.errors and not result.violations
    except Exception as exc:  # the session failed: record it, keep the evidence
        result.failure = (
            f"at step {result.step!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        )
        with contextlib.suppress(Exception):
            if not result.errors:
                result.errors += await count_error_boxes(page)
            await page.screenshot(
                path=str(out / f"fail_r{spec.round}_s{spec.index:02d}.png"), full_page=True
            )
    finally:
        result.seconds = time.monotonic() - t0
        with contextlib.suppress(Exception):
            await context.close()
    return result


async def probe(browser, url: str) -> None:
    """Open the app (it fits the built-in sample), then close: a disconnect reaps expired
    sessions from Streamlit's session store."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    context.set_default_timeout(120_000)
    try:
        page = await context.new_page()
        await page.goto(url)
        await settle(page)
        await page.get_by_text("Fitted: K =").first.wait_for()
    finally:
        await context.close()


# --------------------------------------------------------------------------------------------
# Rounds and the report
# --------------------------------------------------------------------------------------------


@dataclass
class Memory:
    """The server's RSS (MB) once it has settled after sessions closed; with introspection also
    after gc.collect() and after malloc_trim(0), and the session objects still alive."""

    rss: float
    streamlit: dict[str, float] = field(default_factory=dict)  # MB by Streamlit's accounting
    rss_gc: float | None = None
    rss_trim: float | None = None
    anon_file: tuple[float, float] | None = None  # RssAnon, RssFile after trim (server only)
    python_blocks: int | None = None  # sys.getallocatedblocks() after gc
    threads: int | None = None
    malloc: tuple[float, float] | None = None  # glibc malloc: in use, free but kept (MB)
    arrow: float | None = None  # Arrow's memory pool, in use (MB)
    before_gc: dict[str, int] | None = None
    alive: dict[str, int] | None = None
    collected: int | None = None

    @property
    def held(self) -> float:
        """What the process really holds: after gc and trim when measured, else the RSS."""
        return self.rss_trim if self.rss_trim is not None else self.rss

    def describe(self) -> str:
        text = f"{self.rss:.0f} MB"
        if self.streamlit:
            text += " (Streamlit accounts for " + _megabytes(self.streamlit) + ")"
        if self.rss_gc is not None:
            text += (
                f", after gc.collect() {self.rss_gc:.0f} MB, after malloc_trim "
                f"{self.rss_trim:.0f} MB (anonymous {self.anon_file[0]:.0f} MB, files "
                f"{self.anon_file[1]:.0f} MB; malloc in use {self.malloc[0]:.0f} MB, free "
                f"but kept {self.malloc[1]:.0f} MB; Arrow {self.arrow:.1f} MB); alive before "
                f"gc {_counts(self.before_gc)}, "
                f"after gc {_counts(self.alive)} ({self.collected} objects collected; "
                f"{self.python_blocks:,} Python memory blocks, {self.threads} threads)"
            )
        return text


def _megabytes(sizes: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f} MB" for k, v in sizes.items() if v >= 0.05) or "nothing"


def streamlit_memory(url: str) -> dict[str, float]:
    """What Streamlit itself says it holds, by kind (its /_stcore/metrics cache_memory_bytes:
    st.cache_data, st.session_state, uploaded files, media files such as download payloads)."""
    names = {
        "st_cache_data": "cache_data",
        "st_cache_resource": "cache_resource",
        "st_session_state": "session state",
        "UploadedFileManager": "uploads",
        "st_memory_media_file_storage": "media/downloads",
    }
    sizes: dict[str, float] = {}
    with contextlib.suppress(OSError, ValueError):
        metrics_url = f"{url}/_stcore/metrics?families=cache_memory_bytes"
        with urllib.request.urlopen(metrics_url, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("cache_memory_bytes{"):
                    kind = line.split('cache_type="', 1)[1].split('"', 1)[0]
                    name = names.get(kind, kind)
                    sizes[name] = sizes.get(name, 0.0) + float(line.rsplit(" ", 1)[1]) / MB
    return sizes


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{v} {k}" for k, v in (counts or {}).items())


async def measure(server: Server, browser, args) -> Memory:
    """Wait for the closed sessions to be dropped, then measure (see the module docstring)."""
    await asyncio.sleep(args.session_ttl + 1)
    await probe(browser, server.url)
    pid = server.proc.pid
    memory = Memory(await asyncio.to_thread(settled_rss, pid, args.settle_timeout))
    memory.streamlit = await asyncio.to_thread(streamlit_memory, server.url)
    if server.introspect_path is not None:
        answer = await asyncio.to_thread(server.ask, signal.SIGUSR1)
        memory.before_gc, memory.alive = answer["before_gc"], answer["alive"]
        memory.collected = answer["collected"]
        memory.python_blocks, memory.threads = answer["blocks"], answer["threads"]
        memory.rss_gc = await asyncio.to_thread(settled_rss, pid, args.settle_timeout)
        answer = await asyncio.to_thread(server.ask, signal.SIGUSR2)
        memory.malloc = (answer["malloc_used"] / MB, answer["malloc_free"] / MB)
        memory.arrow = answer.get("arrow", 0) / MB
        memory.rss_trim = await asyncio.to_thread(settled_rss, pid, args.settle_timeout)
        memory.anon_file = (_vmrss_kb(pid, "RssAnon") / 1024, _vmrss_kb(pid, "RssFile") / 1024)
    return memory


@dataclass
class RoundReport:
    number: int
    results: list[SessionResult]
    before: float
    peak: float
    after: Memory
    wall: float
    cpu: float  # the server's CPU seconds during the sessions


def memory_verdict(baseline: Memory, rounds: list[RoundReport], args) -> tuple[bool, list[str]]:
    """The memory criteria; each is printed with the figures it used.

    freed (introspection only): after each round, once its sessions are dropped and garbage is
      collected, exactly as many sessions, session states, data sets and fits are alive as at
      the baseline (the probe's), and the number of memory blocks Python has allocated
      (sys.getallocatedblocks) is within max(2 %, 20,000) of the baseline's. This is the
      direct test that nothing of a closed session, and no Python-level growth, stays behind.
    stable: the last round ends at most max(stable_rel * baseline, stable_mb) above the highest
      level an earlier round ended at: a leak grows on every round.
    returns to baseline: after the last round the server holds at most
      max(tolerance_rel * baseline, tolerance_mb) more than at the baseline.

    "Holds" is the RSS after gc.collect() and malloc_trim(0) when the server introspects, else
    the plain RSS. Neither need come all the way back: the first concurrent round leaves native
    memory that Python's objects no longer use (glibc keeps an arena for each thread that
    allocated, up to 8 per core, and malloc_trim cannot hand back partly used pages; numpy's
    BLAS keeps per-thread buffers; glibc caches thread stacks), and later rounds reuse it. So
    the verdict is freed + stable (one round: freed + returns); "returns" is printed either way.
    """
    lines, held = [], "RSS after gc + trim" if baseline.rss_trim is not None else "plain RSS"
    verdict = True
    final = rounds[-1].after.held
    limit = baseline.held + max(args.tolerance_rel * baseline.held, args.tolerance_mb)
    returned = final <= limit
    if baseline.alive is not None:
        same = all(r.after.alive == baseline.alive for r in rounds)
        lines.append(
            f"freed: objects alive after gc at the baseline: {_counts(baseline.alive)}; after "
            "each round: "
            + " | ".join(_counts(r.after.alive) for r in rounds)
            + (" -> same" if same else " -> NOT the same")
        )
        allowed_blocks = max(0.02 * baseline.python_blocks, 20_000)
        blocks = [r.after.python_blocks - baseline.python_blocks for r in rounds]
        flat = all(abs(b) <= allowed_blocks for b in blocks)
        lines.append(
            f"freed: Python memory blocks at the baseline {baseline.python_blocks:,}, after each "
            "round "
            + ", ".join(f"{b:+,}" for b in blocks)
            + f" (allowed +-{allowed_blocks:,.0f})"
            + (" -> yes" if flat else " -> NO")
        )
        verdict &= same and flat
    if len(rounds) >= 2:
        earlier = max(r.after.held for r in rounds[:-1])
        allowed = max(args.stable_rel * baseline.held, args.stable_mb)
        stable = final <= earlier + allowed
        lines.append(
            f"stable across rounds ({held}): after each round "
            + ", ".join(f"{r.after.held - baseline.held:+.0f}" for r in rounds)
            + f" MB vs baseline; last {final:.0f} MB <= highest earlier {earlier:.0f} MB + "
            f"max({args.stable_rel:.0%}, {args.stable_mb:.0f} MB) = {earlier + allowed:.0f} "
            "MB -> " + ("yes" if stable else "NO")
        )
        verdict &= stable
    lines.append(
        f"returns to baseline ({held}): after the last round {final:.0f} MB <= baseline "
        f"{baseline.held:.0f} MB + max({args.tolerance_rel:.0%}, {args.tolerance_mb:.0f} MB) "
        f"= {limit:.0f} MB -> " + ("yes" if returned else "no")
    )
    if baseline.rss_trim is not None:
        lines.append(
            f"plain RSS (information): baseline {baseline.rss:.0f} MB, after each round "
            + ", ".join(f"{r.after.rss - baseline.rss:+.0f}" for r in rounds)
            + " MB"
        )
    if len(rounds) < 2:
        verdict &= returned
        lines.append("verdict: freed and returns to baseline (one round: stability not assessed)")
    else:
        lines.append(
            "verdict: "
            + ("freed and " if baseline.alive is not None else "")
            + "stable across rounds; 'returns to baseline' is reported, not required (memory "
            "the first concurrent round leaves to the allocator is reused, not grown)"
        )
    return verdict, lines


async def run_round(server: Server, browser, sampler: Sampler, rnd: int, args, out: Path):
    specs = [make_spec(i, rnd, args.rows) for i in range(args.sessions)]
    before, cpu0 = rss_mb(server.proc.pid), cpu_seconds(server.proc.pid)
    t0 = time.monotonic()
    tasks = [
        asyncio.wait_for(
            run_session(browser, server.url, s, args.sessions, out),
            args.session_timeout,
        )
        for s in specs
    ]
    results = []
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for spec, outcome in zip(specs, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            outcome = SessionResult(
                spec.index, failure=f"{type(outcome).__name__} (over {args.session_timeout} s?)"
            )
        results.append(outcome)
    wall, cpu = time.monotonic() - t0, cpu_seconds(server.proc.pid) - cpu0
    after = await measure(server, browser, args)
    return RoundReport(rnd, results, before, sampler.peak_since(t0), after, wall, cpu)


STEPS = ("open", "upload", "to Fit", "fit", "downloads")


def print_round(report: RoundReport) -> None:
    print(f"\nRound {report.number}: {len(report.results)} concurrent sessions")
    steps = " ".join(f"{s:>9}" for s in STEPS)
    print(f"  {'session':>7} {'K':>2} {'ok':>4} {'total s':>8} {steps}  problems")
    for r in report.results:
        problems = [*r.errors, *r.violations] + ([r.failure] if r.failure else [])
        times = " ".join(f"{r.steps[s]:>9.1f}" if s in r.steps else f"{'-':>9}" for s in STEPS)
        print(
            f"  {r.index:>7} {r.index + 2:>2} {'yes' if r.ok else 'NO':>4} {r.seconds:>8.1f} "
            f"{times}  {'; '.join(problems)[:600] or '-'}"
        )
    print(
        f"  wall {report.wall:.1f} s, server CPU {report.cpu:.1f} s "
        f"({report.cpu / max(report.wall, 1e-9):.0%} of one core); server RSS before "
        f"{report.before:.0f} MB, peak {report.peak:.0f} MB, after {report.after.describe()}",
        flush=True,
    )


async def main_async(args, out: Path) -> int:
    from playwright.async_api import async_playwright

    log = out / "streamlit.log"
    env = {"MALLOC_ARENA_MAX": str(args.malloc_arena_max)} if args.malloc_arena_max else {}
    server = Server(args.session_ttl, log, env, introspect=args.introspect)
    sampler = None
    try:
        await asyncio.to_thread(server.wait_healthy)
        pid = server.proc.pid
        started = rss_mb(pid)
        sampler = Sampler(pid)
        sampler.start()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # Warm-up: one whole session (imports, first fit, first upload), closed and
            # dropped exactly as after every round.
            warm_spec = make_spec(args.sessions, 0, args.rows)  # a name no round uses
            warm = await asyncio.wait_for(
                run_session(browser, server.url, warm_spec, 0, out),
                args.session_timeout,
            )
            if not warm.ok:
                problems = [*warm.errors, *warm.violations, warm.failure or ""]
                print("FAIL: the warm-up session failed: " + "; ".join(filter(None, problems)))
                return 2
            baseline = await measure(server, browser, args)
            print(
                f"server pid {pid}: RSS at start {started:.0f} MB; baseline after a warm-up "
                f"session ({warm.seconds:.1f} s): {baseline.describe()}",
                flush=True,
            )
            reports = []
            for rnd in range(1, args.rounds + 1):
                report = await run_round(server, browser, sampler, rnd, args, out)
                print_round(report)
                reports.append(report)
            await browser.close()
    finally:
        if sampler is not None:
            sampler.stop()
        server.stop()

    return summarize(args, baseline, reports, server)


def summarize(args, baseline: Memory, reports: list[RoundReport], server: Server) -> int:
    results = [r for rep in reports for r in rep.results]
    ok = sum(r.ok for r in results)
    errors = sum(len(r.errors) for r in results)
    failures = sum(r.failure is not None for r in results)
    violations = sum(len(r.violations) for r in results)
    times = [r.seconds for r in results if r.failure is None]
    memory_ok, memory_lines = memory_verdict(baseline, reports, args)
    introspected = baseline.rss_trim is not None

    print("\n" + "=" * 100)
    print(
        f"SUMMARY: {args.sessions} concurrent sessions x {args.rounds} rounds, ~{args.rows} "
        f"rows each, one server (disconnectedSessionTTL {args.session_ttl} s"
        + (f", MALLOC_ARENA_MAX={args.malloc_arena_max}" if args.malloc_arena_max else "")
        + ")"
    )
    print("=" * 100)
    extra = f" {'after gc':>8} {'+trim':>6} {'alive':>5}" if introspected else ""
    print(
        f"{'round':>5} {'sessions':>8} {'ok':>3} {'errors':>6} {'failed':>6} {'isolation':>9} "
        f"{'med s':>6} {'max s':>6} {'RSS MB: before':>14} {'peak':>6} {'after':>6}{extra}"
    )
    if introspected:
        print(
            f"{'base':>5} {'':>8} {'':>3} {'':>6} {'':>6} {'':>9} {'':>6} {'':>6} {'':>14} "
            f"{'':>6} {baseline.rss:>6.0f} {baseline.rss_gc:>8.0f} {baseline.rss_trim:>6.0f} "
            f"{baseline.alive['sessions']:>5}"
        )
    for rep in reports:
        rs, after = rep.results, rep.after
        ts = [r.seconds for r in rs if r.failure is None] or [0.0]
        extra = (
            f" {after.rss_gc:>8.0f} {after.rss_trim:>6.0f} {after.alive['sessions']:>5}"
            if introspected
            else ""
        )
        print(
            f"{rep.number:>5} {len(rs):>8} {sum(r.ok for r in rs):>3} "
            f"{sum(len(r.errors) for r in rs):>6} {sum(r.failure is not None for r in rs):>6} "
            f"{sum(len(r.violations) for r in rs):>9} {statistics.median(ts):>6.1f} "
            f"{max(ts):>6.1f} {rep.before:>14.0f} {rep.peak:>6.0f} {after.rss:>6.0f}{extra}"
        )
    print(
        f"sessions {len(results)}, successes {ok}, errors {errors}, failed {failures}, "
        f"isolation violations {violations}"
    )
    if times:
        print(f"time per session: median {statistics.median(times):.1f} s, max {max(times):.1f} s")
        done = [r for r in results if r.failure is None]
        print(
            "  by step (median / max s): "
            + ", ".join(
                f"{s} {statistics.median(r.steps[s] for r in done):.1f} / "
                f"{max(r.steps[s] for r in done):.1f}"
                for s in STEPS
            )
        )
    print(
        f"server RSS (MB): baseline {baseline.rss:.0f}, peak {max(r.peak for r in reports):.0f}"
        f", after the last round {reports[-1].after.rss:.0f}"
        + (
            f" ({reports[-1].after.rss_trim:.0f} after gc + trim; baseline {baseline.rss_trim:.0f})"
            if introspected
            else ""
        )
    )
    for line in memory_lines:
        print("memory " + line)
    if "Traceback" in server.log_tail(200_000):
        print(f"server log has a traceback: {server.log_path}")
        errors += 1
    passed = ok == len(results) and errors == 0 and violations == 0 and memory_ok
    print(("PASS" if passed else "FAIL") + f"  (artifacts: {server.log_path.parent})")
    return 0 if passed else 1


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8, help="concurrent sessions per round")
    ap.add_argument("--rows", type=int, default=5000, help="rows per upload (about)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of concurrent sessions")
    ap.add_argument("--session-ttl", type=int, default=5, help="server.disconnectedSessionTTL")
    ap.add_argument("--session-timeout", type=float, default=240, help="seconds per session")
    ap.add_argument("--settle-timeout", type=float, default=60, help="seconds for RSS to settle")
    ap.add_argument("--total-timeout", type=float, default=570, help="kill everything after")
    ap.add_argument(
        "--malloc-arena-max",
        type=int,
        default=0,
        help="diagnostic: run the server with MALLOC_ARENA_MAX=N (0: the default, unset)",
    )
    ap.add_argument(
        "--no-introspect",
        dest="introspect",
        action="store_false",
        help="run plain `python -m streamlit run` (no gc/trim/object counts; RSS only)",
    )
    ap.add_argument("--tolerance-rel", type=float, default=0.15)
    ap.add_argument("--tolerance-mb", type=float, default=50)
    ap.add_argument("--stable-rel", type=float, default=0.05)
    ap.add_argument("--stable-mb", type=float, default=25)
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= 18:
        ap.error("--sessions must be between 1 and 18 (session i fits K = i + 2 <= 20)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
        return 2
    out = Path(tempfile.mkdtemp(prefix="gmm_load_test_"))
    loop = asyncio.new_event_loop()
    main_task = loop.create_task(main_async(args, out))

    def overall_timeout() -> None:
        print(f"\nFAIL: overall timeout of {args.total_timeout:.0f} s", flush=True)
        main_task.cancel()  # unwinds main_async's `finally`, which stops the server

    loop.call_later(args.total_timeout, overall_timeout)

    def last_resort() -> None:  # if cancelling did not unwind: kill the server, exit
        print("\nFAIL: did not unwind after the overall timeout; killing the server", flush=True)
        for server in Server.instances:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGKILL)
        os._exit(3)

    watchdog = threading.Timer(args.total_timeout + 30, last_resort)
    watchdog.daemon = True
    watchdog.start()
    try:
        return loop.run_until_complete(main_task)
    except asyncio.CancelledError:
        return 1
    finally:
        watchdog.cancel()
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
