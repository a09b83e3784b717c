"""Browser tests: the app served by a real HTTP server (a Werkzeug server
thread on 127.0.0.1, random port) against the test database, driven by
Debian's Chromium through Playwright (no browser download), with CSRF on as
in production. Each step's screenshot is kept in tests/e2e/artifacts/ (or in
$E2E_ARTIFACTS: CI keeps one folder per pass, test-artifacts/e2e-*) and
every page is checked by axe-core (WCAG 2.1 A and AA) and for Content
Security Policy violations. Skipped, with the reason, only when Chromium is
not installed (`make install` / scripts/system-deps.sh installs it); with
GUICHET_REQUIRE_BROWSER=1 (set by .ci/run) a missing Chromium or axe-core
fails the run instead."""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.extensions import db

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or HERE / "artifacts").resolve()
REQUIRED = os.environ.get("GUICHET_REQUIRE_BROWSER") == "1"  # CI: no silent skip
AXE_FILES = sorted((HERE / "vendor").glob("axe-*.min.js"))
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    if REQUIRED:
        raise RuntimeError("Chromium is not installed (/usr/bin/chromium) and GUICHET_REQUIRE_BROWSER=1")
    pytest.skip("Chromium is not installed (/usr/bin/chromium): run scripts/system-deps.sh for the browser tests",
                allow_module_level=True)


@contextmanager
def in_db(app):
    """A short application context: the test never holds a transaction (and
    SQLite's write lock) while the live server answers the browser."""
    with app.app_context():
        yield db.session
        db.session.commit()


@pytest.fixture
def live_server(app):
    """The app on a real server thread; CSRF on while it runs."""
    from werkzeug.serving import make_server

    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Journey:
    """One person's browser tab: numbered screenshots of each step, axe-core and
    CSP checks of each page seen (``step``)."""

    def __init__(self, browser, base_url: str, folder: Path, who: str) -> None:
        self.context = browser.new_context(base_url=base_url, locale="fr-FR", viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.folder = folder
        self.who = who
        self.csp_errors: list[str] = []
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.csp_errors.append(f"{self.page.url}: {message.text}")

    def step(self, name: str, counter: list[int]) -> None:
        """Screenshot the page as it is, then check it: no axe violation, no CSP refusal."""
        counter[0] += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
        self.page.screenshot(path=str(self.folder / f"{counter[0]:02d}-{self.who}-{slug}.png"), full_page=True)
        check_accessibility(self.page, name)
        assert self.csp_errors == [], self.csp_errors

    def close(self) -> None:
        self.context.close()


def check_accessibility(page, step: str) -> None:
    """axe-core on the current page: no WCAG 2.1 A/AA violation. The script is
    evaluated through the DevTools protocol, which the page's CSP does not
    restrict (the CSP itself is left on)."""
    if not AXE_FILES:
        if REQUIRED:
            pytest.fail("axe-core is missing (tests/e2e/vendor/) and GUICHET_REQUIRE_BROWSER=1")
        pytest.skip("axe-core is missing (tests/e2e/vendor/): run scripts/system-deps.sh")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_FILES[-1].read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    assert result["passes"], "axe-core ran no rule"
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["html"][:160] for n in v["nodes"][:3])
        for v in result["violations"]
    ]
    assert violations == [], f"accessibility violations on « {step} » ({page.url}):\n" + "\n".join(violations)


@pytest.fixture
def journeys(browser, live_server, request):
    """Opens browser tabs (one per person) sharing one step counter; closes them at the end."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    if folder.exists():
        for old in folder.glob("*.png"):
            old.unlink()
    opened: list[Journey] = []
    counter = [0]

    class Opener:
        base_url = live_server

        def open(self, who: str) -> Journey:
            journey = Journey(browser, live_server, folder, who)
            journey.step_counter = counter
            opened.append(journey)
            return journey

        def step(self, journey: Journey, name: str) -> None:
            journey.step(name, counter)

    yield Opener()
    for journey in opened:
        journey.close()
