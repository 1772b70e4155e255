"""A month for many teams (the report at 2,000 teams, issue 18): September and October 2026.

Small on purpose: per team, one span row a day on four days a month on one of three models,
and one bill per day · model (the teams' estimates × 1.02, so drift is -2 %). Names are
Unicode and untrusted: some collide once slugged (``Search`` / ``search``), some have no ASCII
letter, one is markup. A budget for every tenth team; the first team's last week runs 3×.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from builders import billing, usage

from finops.config import Config, parse_config
from finops.warehouse import connect, replace_window
from finops.windows import month_window

MODELS = [("gpt-4o", Decimal("2.5"), Decimal(10)), ("gpt-4o-mini", Decimal("0.15"), Decimal("0.6")),
          ("gpt-4o", Decimal("2.5"), Decimal(10))]
SPECIAL = ["search", "Search", "支付", "платёж", "<b>markup</b>", "équipe données"]


def team_names(n: int) -> list[str]:
    """``n`` team names: the special ones first, then ``team-0007`` and so on."""
    names = SPECIAL[:n]
    return names + [f"team-{i:04d}" for i in range(len(names), n)]


def config(tmp: Path, prices: Path, names: list[str]) -> Config:
    teams: dict[str, Any] = {name: ({"budget_usd": 40} if i % 10 == 0 else {}) for i, name in enumerate(names)}
    return parse_config({"warehouse": {"path": str(tmp / "scale.duckdb")}, "pricing": {"dir": str(prices)},
                         "reconcile": {"today": date(2026, 11, 23)}, "teams": teams})


def load(cfg: Config, names: list[str]) -> None:
    """Load both months into ``cfg``'s warehouse (nothing reconciled yet)."""
    con = connect(cfg.warehouse)
    for month, grow in (("2026-09", 1), ("2026-10", 2)):
        w = month_window(month)
        rows, bills = [], {}
        for i, name in enumerate(names):
            model, p_in, p_out = MODELS[i % 3]
            for d in (3, 10, 17, 24 + i % 4):
                day = w.window_start.replace(day=d)
                scale = 3 if (i == 0 and month == "2026-10" and d >= 24) else 1
                inp = (200_000 + 7_919 * (i % 101)) * grow * scale
                out = (20_000 + 613 * (i % 53)) * grow * scale
                rows.append({"day": day, "team": name, "model": model, "input_tokens": inp,
                             "output_tokens": out, "requests": 40 + i % 17, "feature": f"f{i % 5}"})
                key = (day, model)
                a, t_in, t_out = bills.get(key, (Decimal(0), 0, 0))
                bills[key] = (a + (inp * p_in + out * p_out) / 10**6, t_in + inp, t_out + out)
        b = []
        for (day, model), (amount, t_in, t_out) in bills.items():
            b.append({"day": day, "model": model, "amount": str((amount * Decimal("1.02")).quantize(Decimal("0.000001"))),
                      "billed_tokens": t_in + t_out})
        replace_window(con, "usage", "spans", w.window_start, w.window_end, usage(rows))
        replace_window(con, "billing", "bills", w.window_start, w.window_end, billing(b), providers=["openai"])
    con.close()
