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
                                 # (a month's chargeback is mailed only once all its days are older)

# [smtp]                         # where chargeback and anomaly emails go out
# host = "smtp.example.com"
# port = 587
# security = "starttls"          # starttls | tls | none (loopback relay only)
# username = "finops@example.com"
# password_env = "FINOPS_SMTP_PASSWORD"
# [email]
# from = "finops@example.com"
# finance = ["finance@example.com"]
# [nightly]
# out_dir = "reports"
# chargeback_day = 4             # previous month's chargebacks from this day (0: never)

# Span attribute mapping: canonical field -> attribute keys tried in order, on the span
# first, then its resource. Defaults cover OpenInference (llm.*) and OTel GenAI (gen_ai.*).
[attributes]
team = ["team.id", "team"]
project = ["project.id"]
feature = ["feature.id"]
# account = ["openai.project.id", "anthropic.workspace.id"]

# ---- span sources (the estimate side) ------------------------------------------------
# Every option of every kind is listed below; any other key is refused with a did-you-mean.
# Each kind's module documents its options too (README: Configuration).
[[sources]]
name = "spans"
kind = "otlp_files"              # files written by the OpenTelemetry Collector file exporter
paths = ["spans/*.jsonl.gz"]     # files or globs (one string is a list of one)
# workers = "auto"               # or a number of worker processes
# Input-token convention per provider: inclusive (OpenInference, OTel GenAI), exclusive
# (some Anthropic instrumentations), or auto (inclusive unless cache > input).
input_convention = { "*" = "auto" }
# allow_empty = false            # true: a pull may replace a day that had usage with none
# sampling = "tracestate"        # what a sampled span counts: 1 / its probability, from the
#                                # tracestate (ot=th:), "attribute:SampleRate", { ratio = 0.1 },
#                                # or "off"; per service: { default = ..., services = {...} }

# [[sources]]
# name = "tempo"
# kind = "tempo"
# url = "https://tempo-prod-01-eu-west-0.grafana.net/tempo"   # may carry a path prefix
# tenant = "acme"                # X-Scope-OrgID (multi-tenant self-hosted Tempo)
# user_env = "TEMPO_USER"        # basic auth: both user_env and password_env ...
# password_env = "TEMPO_TOKEN"
# token_env = "TEMPO_BEARER"     # ... or a bearer token
# verify_tls = true              # or a CA bundle path
# mode = "auto"                  # auto | pushdown | search
# timeout = 60                   # seconds per request
# attempts = 5
# step = "3h"                    # pushdown tile (must divide a day)
# max_duration = "24h"           # the tenant's metrics maximum, if overridden
# search_step = "1h"
# search_limit = 5000
# spss = 100
# scope = { team = "resource" }  # span (default) or resource, per field
# keys = { model = "gen_ai.request.model" }
# group_by = ["team", "project", "feature", "model", "service_tier"]
# input_convention = { anthropic = "exclusive" }
# sampling = "tracestate"        # search mode reads it from whole traces; pushdown takes
#                                # only { ratio = 0.1 } (nothing declared: spans count once)

# [[sources]]
# name = "o2"
# kind = "openobserve"
# url = "https://openobserve.example.com"
# org = "default"
# stream = "default"
# user_env = "O2_USER"
# password_env = "O2_PASSWORD"
# timeout = 300
# attempts = 5
# page_size = 10000
# window_hours = 24              # divides 24
# verify_counts = true
# verify_tls = true
# scope = { team = "resource" }
# only = { provider = ["openai"] }

# [[sources]]
# name = "metrics"
# kind = "prometheus"            # OTel GenAI metrics in Prometheus, Mimir, VictoriaMetrics, Thanos
# url = "http://prometheus:9090"
# tenant = "acme"                # X-Scope-OrgID
# user_env = "PROM_USER"         # basic auth, or token_env = "PROM_TOKEN"
# password_env = "PROM_PASSWORD"
# verify_tls = true
# timeout = 120
# attempts = 5
# selector = 'deployment_environment="prod"'
# resource = "auto"              # auto | labels | target_info
# join_on = ["job", "instance"]
# resource_fields = ["team", "project", "feature", "account"]
# labels = { team = ["team_id", "team"] }
# metrics = { token_usage = "gen_ai_client_token_usage" }
# operations = ["chat", "text_completion", "generate_content", "embeddings"]
# max_points = 11000
# allow_warnings = false
# check_lookback = "35d"        # how far back `finops sources check` looks for metrics
# (all options: finops/sources/prometheus/__init__.py)

# ---- billing sources (the truth side) ------------------------------------------------
[[billing]]
name = "openai"
kind = "openai"                  # Admin API; or "openai_files" with costs/usage = [paths]
admin_key_env = "OPENAI_ADMIN_KEY"
# base_url = "https://api.openai.com"   # a proxy; the key is sent only there
# timeout = 30
# attempts = 5
# page_limit = 31
# list_keys = true               # names of the API keys the usage names (ids only when false)

[[billing]]
name = "anthropic"
kind = "anthropic"               # Admin API; or "anthropic_files" with costs/usage = [paths]
admin_key_env = "ANTHROPIC_ADMIN_KEY"
# base_url = "https://api.anthropic.com"
# timeout = 30
# attempts = 5
# page_limit = 31
# list_keys = true

# [[billing]]
# name = "openai-saved"
# kind = "openai_files"          # saved Admin API pages (anthropic_files alike)
# costs = ["billing/openai/costs_page*.json"]    # required
# usage = ["billing/openai/usage_page*.json"]
# api_keys = ["billing/openai/api_keys_*.json"]  # saved key listings: names of the keys

# [[billing]]
# name = "cloud"
# kind = "focus_files"           # FOCUS 1.2/1.3 exports, CSV or Parquet
# paths = ["exports/*.csv"]
# rules = [{ SkuId = "CLAUDE-SONNET-4-IN", provider = "anthropic", model = "claude-sonnet-4-20250514",
#            token_type = "input" }]

# ---- teams ------------------------------------------------------------------------------
# leads receive the team's chargeback; accounts are provider accounts the team owns
# (billed spend there with no spans is charged to the team; an entry may name an API key
# instead, { provider = "openai", api_key = "key_abc" }: the key's share, before the account's
# rule); budget_usd is monthly.
[teams.search]
leads = ["search-lead@example.com"]
budget_usd = 5000
accounts = [{ provider = "openai", account = "proj_search" }]

[teams.support]
leads = ["support-lead@example.com"]
budget_usd = 2000
accounts = [{ provider = "anthropic", account = "wrkspc_support" }]
# FOCUS bills: charges with no spans whose Tags hold these pairs, or whose ResourceId is listed
# tags = { team = "support" }
# resources = ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/ab12cd34"]

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
