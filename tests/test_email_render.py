"""A team's chargeback email rendered in a real headless browser (Debian's chromium).

The HTML is shown the way a mail client shows it: each ``cid:`` reference resolved to its
attached PNG. Checks: every image decodes (none broken), and the page makes no network
request (chromium's traffic goes through a recording proxy on loopback). Skipped when chromium
is not installed (``make email-screenshot`` installs it). With ``FINOPS_EMAIL_SCREENSHOT=path``
the screenshot is also copied there (that is how ``docs/email-chargeback.png`` is made).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest
from test_email import copy_demo, demo_month  # noqa: F401

from finops.mail.compose import html_part

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make email-screenshot)")

PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  document.title = 'images=' + imgs.length + ' broken=' + broken;
});
</script>"""


BROWSER_SERVICES = re.compile(
    r"^\S+ (https?://)?[^/ ]*\b(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)\b")


class RecordingProxy:
    """A TCP listener used as chromium's proxy: every request the page makes lands here."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    head = ""
                self.requests.append(head.split("\r\n", 1)[0])
                try:
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def chromium(*args: str, proxy: RecordingProxy) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--metrics-recording-only",
           f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def support_email(demo_month: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """The support team's chargeback email for the demo month."""
    from finops import api
    from finops.config import load_config
    from finops.mail.compose import chargeback_email
    from finops.windows import month_window

    cfg = copy_demo(demo_month, tmp_path_factory.mktemp("render") / "site",
                    '[email]\nfrom = "finops@example.com"\nreply_to = "platform-finops@example.com"\n')
    config = load_config(cfg)
    rep = api.report(config, month_window("2026-10"))
    return chargeback_email(rep, rep.team("support"), list(config.teams["support"].leads), config.email)


@pytest.fixture
def proxy():
    p = RecordingProxy()
    try:
        yield p
    finally:
        p.close()


def _probe_page(html: str, path: Path) -> Path:
    path.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return path


def test_the_proxy_sees_external_requests(tmp_path: Path, proxy: RecordingProxy) -> None:
    """Control: a page with a remote image does reach the proxy, so silence below means something."""
    page = _probe_page('<html><body><img src="http://images.example.com/x.png"></body></html>',
                       tmp_path / "control.html")
    dom = chromium("--dump-dom", page.as_uri(), proxy=proxy).stdout
    assert "broken=1" in dom
    assert any("images.example.com" in r for r in proxy.requests), proxy.requests


def test_email_renders_with_no_broken_images_and_no_requests(support_email, tmp_path: Path,
                                                              proxy: RecordingProxy) -> None:

    html = preview_html(support_email.message)
    assert "cid:" not in html
    dom = chromium("--dump-dom", _probe_page(html, tmp_path / "probe.html").as_uri(), proxy=proxy).stdout
    m = re.search(r"<title>images=(\d+) broken=(\d+)</title>", dom)
    assert m, dom[:500]
    assert int(m.group(1)) >= 1 and m.group(2) == "0"
    assert "support" in dom and "Your chargeback" in dom

    page = tmp_path / "support.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "email-chargeback.png"
    run = chromium(f"--screenshot={shot}", "--window-size=720,1480", page.as_uri(), proxy=proxy)
    assert shot.exists(), run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # Chromium's own background calls (clock sync, component updates) also show up: drop those
    # hosts; the HTML is also checked to hold no http(s) URL at all.
    # A connection that sends nothing (a speculative preconnect to the proxy) is no request.
    page_requests = [r for r in proxy.requests if r and not BROWSER_SERVICES.search(r)]
    assert page_requests == []
    assert not re.search(r"https?://", html)
    target = os.environ.get("FINOPS_EMAIL_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


def preview_html(msg: EmailMessage) -> str:  # as a mail client shows it
    """The HTML body with each ``cid:`` image replaced by a ``data:`` URI, as a mail client shows it."""
    import base64

    html = html_part(msg)
    for part in msg.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True)).decode("ascii")
            html = html.replace(f"cid:{cid.strip('<>')}", f"data:{part.get_content_type()};base64,{data}")
    return html


def test_html_report_renders_offline_with_collapsed_team_sections(demo_month: Path, tmp_path: Path,  # noqa: F811
                                                                  proxy: RecordingProxy) -> None:
    """The demo's HTML report in chromium: no request leaves the page, no script, sections collapsed."""
    from finops import api
    from finops.config import load_config
    from finops.report.html import render_html
    from finops.windows import month_window

    cfg = copy_demo(demo_month, tmp_path / "site", "")
    html = render_html(api.report(load_config(cfg), month_window("2026-10")))
    assert "<script" not in html.lower()
    dom = chromium("--dump-dom", _probe_page(html, tmp_path / "report.html").as_uri(), proxy=proxy).stdout
    m = re.search(r"<title>images=(\d+) broken=(\d+)</title>", dom)
    assert m and m.group(2) == "0", dom[:500]
    assert dom.count('<details class="team" id="team-') == 13 and ' open=""' not in dom
    assert 'id="unattributed"' in dom and "1–31 October 2026" in dom
    page = tmp_path / "report-plain.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "report.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1000,2400", page.as_uri(), proxy=proxy)
    assert shot.exists(), run.stderr[-2000:]
    page_requests = [r for r in proxy.requests if r and not BROWSER_SERVICES.search(r)]
    assert page_requests == []
    target = os.environ.get("FINOPS_REPORT_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
