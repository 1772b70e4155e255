"""The commented starter ``finops.toml`` written by ``finops init``."""

from __future__ import annotations

from pathlib import Path

from finops.errors import ConfigError

STARTER = '''\
# finops configuration. Secrets never go in this file: name environment variables instead.
# Paths are relative to this file.

currency = "USD"                 # billing currency every report is in

[warehouse]
path = "finops.duckdb"           # one DuckDB file; override with --warehouse

[pricing]
# dir = "pricing"                # default: the price tables bundled with finops
# overrides = "overrides.toml"   # negotiated discounts, effective-dated (see pricing/overrides.toml)

[gate]
max_drift_pct = 5                # 'finops gate' exits 1 above this |drift|

[reconcile]
provisional_days = 3             # days younger than this may still be restated by providers

# Span attribute mapping: canonical field -> attribute keys tried in order, on the span
# first, then its resource. Defaults cover OpenInference (llm.*) and OTel GenAI (gen_ai.*).
[attributes]
team = ["team.id", "team"]
project = ["project.id"]
feature = ["feature.id"]
# account = ["openai.project.id", "anthropic.workspace.id"]

# ---- span sources (the estimate side) ------------------------------------------------
[[sources]]
name = "spans"
kind = "otlp_files"              # files written by the OpenTelemetry Collector file exporter
paths = ["spans/*.jsonl.gz"]
# Input-token convention per provider: inclusive (OpenInference, OTel GenAI), exclusive
# (some Anthropic instrumentations), or auto (inclusive unless cache > input).
input_convention = { "*" = "auto" }
# allow_empty = false            # true: a pull may replace a day that had usage with none

# [[sources]]
# name = "tempo"
# kind = "tempo"
# url = "https://tempo-prod-01-eu-west-0.grafana.net/tempo"
# user_env = "TEMPO_USER"
# password_env = "TEMPO_TOKEN"

# [[sources]]
# name = "o2"
# kind = "openobserve"
# url = "https://openobserve.example.com"
# org = "default"
# stream = "default"
# user_env = "O2_USER"
# password_env = "O2_PASSWORD"

# ---- billing sources (the truth side) ------------------------------------------------
[[billing]]
name = "openai"
kind = "openai"                  # Admin API; or "openai_files" with costs/usage = [paths]
admin_key_env = "OPENAI_ADMIN_KEY"

[[billing]]
name = "anthropic"
kind = "anthropic"               # Admin API; or "anthropic_files" with costs/usage = [paths]
admin_key_env = "ANTHROPIC_ADMIN_KEY"

# ---- teams ------------------------------------------------------------------------------
# leads receive the team's chargeback; accounts are provider accounts the team owns
# (billed spend there with no spans is charged to the team); budget_usd is monthly.
[teams.search]
leads = ["search-lead@example.com"]
budget_usd = 5000
accounts = [{ provider = "openai", account = "proj_search" }]

[teams.support]
leads = ["support-lead@example.com"]
budget_usd = 2000
accounts = [{ provider = "anthropic", account = "wrkspc_support" }]

# ---- chat and webhook notifications -------------------------------------------------------
# 'finops nightly' posts anomaly and budget flags, 'finops gate --notify' a failed gate.
# The webhook URL is a secret: only the environment variable's name goes here.
# [[notify]]
# name = "finops-slack"
# kind = "slack"                 # slack | teams (Workflows webhook) | webhook (generic JSON)
# url_env = "FINOPS_SLACK_WEBHOOK_URL"
# events = ["anomaly", "budget", "gate"]
# teams = ["search"]             # only these teams' flags (default: every team)
'''


def write_starter(path: Path, *, force: bool = False) -> None:
    """Write the starter config to ``path`` (refuses to overwrite unless ``force``)."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite)")
    path.write_text(STARTER, encoding="utf-8")
