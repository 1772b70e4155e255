"""`finops email` against a real SMTP server on loopback (aiosmtpd) with STARTTLS and AUTH.

The demo month (12 teams, one lead each) is generated once per session; each test works on a
copy. The server refuses the recipients in ``server.refuse``, and records every message with
whether the session was encrypted and authenticated.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from finops.config import load_config
from finops.money import fmt_money as money

SMTP_USER, SMTP_PASSWORD, PASSWORD_ENV = "finops", "s3cret-smtp-pw", "FINOPS_TEST_SMTP_PASSWORD"


# ----------------------------------------------------------------------------- the demo month

@pytest.fixture(scope="session")
def demo_month(demo_result) -> Path:
    """The session's demo month folder (read-only: tests copy it with ``copy_demo``)."""
    return demo_result.config_path.parent


def copy_demo(demo: Path, target: Path, extra_toml: str) -> Path:
    """A private copy of the demo (data, warehouse, config) with ``extra_toml`` appended.

    An ``[email]`` section in ``extra_toml`` takes the place of the demo's own.
    """
    shutil.copytree(demo, target, ignore=shutil.ignore_patterns("reports", "*.lock"))
    cfg = target / "finops.toml"
    text = cfg.read_text()
    if "[email]" in extra_toml:
        text = re.sub(r"\n\[email\]\n(?:[^\n]+\n)*", "\n", text)
    cfg.write_text(text + "\n" + extra_toml)
    return cfg


# ----------------------------------------------------------------------------- the SMTP server

@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class Handler:
    """aiosmtpd handler: refuses addresses in ``refuse``, keeps everything else."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg,
                                      session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        """Messages delivered to ``address``."""
        return [r for r in self.received if address.lower() in (a.lower() for a in r.rcpt_tos)]


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI; cryptography is not installed)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@dataclass
class Server:
    """A running SMTP server and the TOML that points finops at it."""

    handler: Handler
    port: int
    toml: str


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                request: pytest.FixtureRequest):
    """aiosmtpd on loopback: STARTTLS required, AUTH LOGIN/PLAIN required (only over TLS).

    Parametrise indirectly with a mechanism to leave out (smtplib tries PLAIN, then LOGIN).
    """
    exclude = [request.param] if getattr(request, "param", None) else []
    cert, key = certificate
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    handler = Handler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, authenticator=_authenticator, auth_required=True,
                            auth_require_tls=True, auth_exclude_mechanism=exclude)
    controller.start()
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    toml = (f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "starttls"\nusername = "{SMTP_USER}"\n'
            f'password_env = "{PASSWORD_ENV}"\ncafile = "{cert}"\ntimeout_s = 10\n\n'
            '[email]\nfrom = "finops@example.com"\nfinance = ["finance@example.com", "cfo@example.com"]\n'
            'reply_to = "platform-finops@example.com"\n')
    try:
        yield Server(handler, port, toml)
    finally:
        controller.stop()


@pytest.fixture
def site(demo_month: Path, smtp_server: Server, tmp_path: Path) -> Path:
    """A demo copy configured to mail through the test server; returns its finops.toml."""
    return copy_demo(demo_month, tmp_path / "site", smtp_server.toml)


# ----------------------------------------------------------------------------- helpers

def bodies(msg: EmailMessage) -> str:
    """The decoded text and HTML bodies of a message, joined."""
    parts = [msg.get_body(preferencelist=(kind,)) for kind in ("plain", "html")]
    return "\n".join(p.get_content() for p in parts if p is not None) + "\n" + str(msg["Subject"])


def team_totals(cfg: Path) -> dict[str, str]:
    """Team -> allocated amount as the emails print it, from the report."""
    from finops import api
    from finops.windows import month_window
    rep = api.report(load_config(cfg), month_window("2026-10"))
    return {t.team: money(t.billed) for t in rep.teams}


def sent_rows(cfg: Path) -> list[tuple]:
    with duckdb.connect(str(cfg.parent / "finops.duckdb"), read_only=True) as con:
        return con.execute("SELECT kind, period, team, recipients, message_id FROM emails_sent "
                           "ORDER BY team, kind").fetchall()


# ----------------------------------------------------------------------------- tests

def test_each_lead_gets_their_team_and_no_other(cli, site: Path, smtp_server: Server) -> None:
    config = load_config(site)
    totals = team_totals(site)
    r = cli("-c", str(site), "email", "--month", "2026-10")
    assert r.code == 0, r.err
    h = smtp_server.handler
    assert all(m.tls and m.authenticated for m in h.received)
    mailed = {n: t for n, t in config.teams.items() if t.leads and n in totals}
    assert len(mailed) == 12 and len(h.received) == 13  # 12 teams + the finance summary
    for name, team in mailed.items():
        got = h.to(team.leads[0])
        assert len(got) == 1, name
        msg = got[0].message
        assert got[0].rcpt_tos == list(team.leads)
        text = bodies(msg)
        subject = str(msg["Subject"])
        assert name in subject and "2026-10" in subject and totals[name] in subject and "drift" in subject
        assert totals[name] in text
        for other, amount in totals.items():
            if other == name:
                continue
            assert not re.search(rf"(?<![\w-]){re.escape(other)}(?![\w-])", text), (name, other)
            if len(amount) >= 6:  # tiny totals (2.18) can equal a day's figure by chance
                assert not re.search(rf"(?<![\d.,]){re.escape(amount)}(?!\d)", text), (name, other, amount)
    summary = h.to("finance@example.com")
    assert len(summary) == 1 and summary[0].rcpt_tos == ["finance@example.com", "cfo@example.com"]
    org = bodies(summary[0].message)
    assert all(amount in org for amount in totals.values())
    rows = sent_rows(site)
    assert len(rows) == 13 and len({r[4] for r in rows}) == 13
    assert {r[2] for r in rows} == set(mailed) | {"*"}
    assert "sent chargeback support 2026-10 to" in r.out


@pytest.mark.parametrize("smtp_server", ["PLAIN"], indirect=True)  # AUTH LOGIN only
def test_message_shape(cli, site: Path, smtp_server: Server) -> None:
    assert cli("-c", str(site), "email", "--month", "2026-10", "--team", "support").code == 0
    (got,) = smtp_server.handler.received
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    html = msg.get_body(preferencelist=("html",)).get_content()
    png = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert png.get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")
    cid = png["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert "<style" not in html and 'style="' in html  # CSS inlined for clients that drop <style>
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)
    assert msg["Message-ID"] and msg["From"] == "finops@example.com"
    assert msg["Reply-To"] == "platform-finops@example.com"
    assert "Your chargeback" in msg.get_body(preferencelist=("plain",)).get_content()


def test_second_run_sends_nothing_and_resend_sends_again(cli, site: Path, smtp_server: Server) -> None:
    h = smtp_server.handler
    assert cli("-c", str(site), "email", "--month", "2026-10").code == 0
    assert len(h.received) == 13
    again = cli("-c", str(site), "email", "--month", "2026-10")
    assert again.code == 0, again.err
    assert len(h.received) == 13 and "already sent" in again.err
    assert len(sent_rows(site)) == 13
    resent = cli("-c", str(site), "email", "--month", "2026-10", "--resend")
    assert resent.code == 0, resent.err
    assert len(h.received) == 26 and len(sent_rows(site)) == 26


def test_refused_recipient_does_not_block_the_rest(cli, site: Path, smtp_server: Server) -> None:
    config = load_config(site)
    legal = config.teams["legal"].leads[0]
    h = smtp_server.handler
    h.refuse = {legal, "cfo@example.com"}
    r = cli("-c", str(site), "email", "--month", "2026-10")
    assert r.code == 3
    assert legal in r.err and "cfo@example.com" in r.err and "550" in r.err
    assert "2 recipient(s) not delivered" in r.err
    assert len(h.received) == 12  # every other team, and the summary to finance@ alone
    assert h.to("finance@example.com")[0].rcpt_tos == ["finance@example.com"]
    rows = sent_rows(site)
    assert "legal" not in {r[2] for r in rows}
    assert [r[3] for r in rows if r[2] == "*"] == [["finance@example.com"]]
    # The next run retries exactly the refused recipients, once the server takes them.
    h.refuse = set()
    retry = cli("-c", str(site), "email", "--month", "2026-10")
    assert retry.code == 0, retry.err
    assert len(h.received) == 14
    assert h.received[-2].rcpt_tos == [legal] or h.received[-1].rcpt_tos == [legal]
    assert ["cfo@example.com"] in [m.rcpt_tos for m in h.received[-2:]]


def test_dry_run_writes_eml_and_sends_nothing(cli, site: Path, smtp_server: Server, tmp_path: Path) -> None:
    out = tmp_path / "outbox"
    r = cli("-c", str(site), "email", "--month", "2026-10", "--dry-run", "--out", str(out))
    assert r.code == 0, r.err
    files = sorted(p.name for p in out.glob("*.eml"))
    assert len(files) == 13 and "chargeback-2026-10-support.eml" in files
    assert "summary-2026-10-organisation.eml" in files
    msg = email.message_from_bytes((out / "chargeback-2026-10-support.eml").read_bytes(),
                                   policy=email.policy.default)
    assert "support" in str(msg["Subject"])
    assert smtp_server.handler.received == [] and sent_rows(site) == []


def test_bad_password_fails_closed_without_printing_it(cli, site: Path, smtp_server: Server,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password-123")
    r = cli("-c", str(site), "email", "--month", "2026-10", "--team", "search")
    assert r.code == 3
    assert f"smtp 127.0.0.1:{smtp_server.port}" in r.err and "login" in r.err
    assert "wrong-password-123" not in r.err + r.out
    assert smtp_server.handler.received == [] and sent_rows(site) == []


def test_unknown_team_and_bad_smtp_config_are_usage_errors(cli, demo_month: Path, tmp_path: Path) -> None:
    cfg = copy_demo(demo_month, tmp_path / "site", '[smtp]\nsecurity = "ssl3"\n')
    r = cli("-c", str(cfg), "email", "--month", "2026-10")
    assert r.code == 2 and "smtp.security" in r.err
    cfg.write_text(cfg.read_text().replace('security = "ssl3"', 'security = "none"'))
    r = cli("-c", str(cfg), "email", "--month", "2026-10", "--team", "nope")
    assert r.code == 2 and "--team 'nope'" in r.err


def test_png_writer_makes_a_valid_image() -> None:
    import struct
    import zlib
    from datetime import date
    from decimal import Decimal

    from finops.mail.png import daily_png

    data, ticks = daily_png([(date(2026, 10, d), Decimal(d), Decimal(d + 1)) for d in range(1, 31)],
                            width=100, height=40, scale=1)
    assert ticks == [0, 10, 20, 30, 40]  # nice ticks past the top day (31), labelled in the HTML
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (100, 40)
    length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + length])
    assert len(raw) == height * (1 + width * 3)


def test_emails_show_budget_status_the_unattributed_fix_and_link_to_the_report(cli, demo_month: Path,
                                                                               tmp_path: Path) -> None:
    # The demo's own [email]: a finance recipient and report_url; growth's budget (60 USD) is flagged.
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    r = cli("-c", str(cfg), "email", "--month", "2026-10", "--dry-run", "--out", str(tmp_path / "outbox"))
    assert r.code == 0, r.err
    out = tmp_path / "outbox"

    def read(name: str) -> str:
        return bodies(email.message_from_bytes((out / name).read_bytes(), policy=email.policy.default))

    growth = read("chargeback-2026-10-growth.eml")
    # 94.55 of 60.00 spent: 157.6 %, over budget (projected as spent: the month is over)
    assert "$94.55 of $60.00 (157.6 %)" in growth and "projected over budget" in growth
    assert "https://finops.example.com/reports/2026-10/chargeback-2026-10.html#team-growth" in growth
    assert "1–31 October 2026" in growth and "end exclusive" not in growth
    support = read("chargeback-2026-10-support.eml")
    assert "$1,332.56 of $12,000.00 (11.1 %)" in support and "on track" in support
    assert "hit rate 49.5 %" in support and "net $507.67" in support  # its cache return
    summary = read("summary-2026-10-organisation.eml")
    assert 'accounts = [{provider = "anthropic", account = "wrkspc_eval"}]' in summary.replace("&#34;", '"')
    assert "Budgets flagged" in summary and "growth" in summary
    assert "https://finops.example.com/reports/2026-10/chargeback-2026-10.html" in summary
