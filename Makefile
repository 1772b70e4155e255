# Every target sets itself up: a fresh machine needs only python3.11 and make.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help demo demo-metrics test lint bench bench-org clean chromium metrics-servers email-screenshot focus-check

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate a month of sample data, load, reconcile and write the HTML report
	$(BIN)/finops demo --out demo-out
	@echo "A gate failure (threshold lowered to 4 %) as the Slack, Teams and webhook posts, written, not posted:"
	@$(BIN)/finops -c demo-out/finops.toml gate --month 2026-10 --max-drift 4 --notify --dry-run \
	  --out demo-out/outbox > /dev/null 2> demo-out/outbox.log; [ $$? -eq 1 ] || { cat demo-out/outbox.log; exit 1; }
	@grep '^notify' demo-out/outbox.log
	@echo "A cloud-hosted provider: Bedrock spans and an AWS FOCUS export (demo-out/cloud/finops.toml):"
	@$(BIN)/python scripts/demo_cloud.py --out demo-out/cloud
	@$(BIN)/finops -c demo-out/cloud/finops.toml pull --month 2026-10 > /dev/null 2> demo-out/cloud/pull.log \
	  || { cat demo-out/cloud/pull.log; exit 1; }
	@$(BIN)/finops -c demo-out/cloud/finops.toml report --month 2026-10
	$(BIN)/finops -c demo-out/cloud/finops.toml report --month 2026-10 --format html --out demo-out/cloud/reports
	@$(BIN)/finops -c demo-out/cloud/finops.toml report --month 2026-10 --format json \
	  | $(BIN)/python -c 'import json, sys; print(*json.load(sys.stdin)["notes"], sep="\n")'
	@echo "The emails (each team's chargeback with its budget status, the finance summary), written, not sent:"
	@$(BIN)/finops -c demo-out/finops.toml email --month 2026-10 --dry-run --out demo-out/outbox 2>&1 | grep -E 'summary|growth|recsys'
	@echo "The week-over-week anomaly (recsys, 19-25 October) and the budget flag (growth, 78 % by 15 October):"
	@$(BIN)/finops -c demo-out/finops.toml anomalies --as-of 2026-10-25 | grep '^recsys up'
	@$(BIN)/finops -c demo-out/finops.toml anomalies --as-of 2026-10-15 | grep 'growth .*before mid-month'

demo-metrics: $(STAMP) metrics-servers  ## the demo month from metrics: OTel SDK export -> VictoriaMetrics -> kind = "prometheus"
	$(BIN)/python scripts/demo_metrics.py --out demo-out

test: $(STAMP)  ## run the test suite (one worker per core, at most 4)
	$(BIN)/pytest -n auto --maxprocesses 4

lint: $(STAMP)  ## ruff on the package, tests, bench and scripts; import-linter on the package's layers
	$(BIN)/ruff check finops tests bench scripts
	$(BIN)/lint-imports

bench: $(STAMP)  ## ingest (1M spans per data shape vs orjson and json-loop) and nightly (a year of files vs the window's) benchmarks (SPANS=N)
	$(BIN)/python bench/ingest.py --spans $${SPANS:-1000000}; a=$$?; \
	$(BIN)/python bench/nightly.py; b=$$?; [ $$a -eq 0 ] && [ $$b -eq 0 ]

bench-org: $(STAMP)  ## organisation scale: 20..2,000 teams, reconcile/report/gate/FOCUS vs targets (BASELINE=main, SIZES=20,100)
	$(BIN)/python bench/org.py $(if $(SIZES),--sizes $(SIZES)) $(if $(BASELINE),--baseline $(BASELINE)) $(BENCH_ARGS)

# focus-check: the FinOps Foundation's focus-validator needs Python >= 3.12, so it gets its own venv.
# It runs offline (--block-download: only FOCUS 1.2 ships in its wheel) from its site-packages
# (it opens rules/currency_codes.csv by a relative path) and always exits 0, so its summary is
# parsed here. Criteria: what LLM API billing has. PUBLIC_PRICE_LIST_SUPPORTED is left out: the
# validator applies a rule when ANY of its criteria is given (spec: all), which drags in the
# virtual-currency PricingCurrency* rules (see README). InvoiceId-C-004-C / -C-005-C contradict
# each other (one always fails): reported, not counted. ConsumedQuantity-C-006-C ("not null") fails
# only inside its parent C-005-C, whose condition names CommitmentDiscountStatus, a column an LLM
# file does not have; it is re-run alone and must pass there, then that chain is reported, not counted.
FOCUS_PY ?= $(firstword $(wildcard /root/.pyenv/versions/3.12.*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
FOCUS_VENV ?= $(VENV)/focus-validator
FOCUS_DIR ?= demo-out/focus-check
FOCUS_CRITERIA ?= ACCOUNT_NAMING_SUPPORTED,MULTIPLE_SUB_ACCOUNT_TYPES_SUPPORTED,NEGOTIATED_PRICING_SUPPORTED,UNIT_PRICING_SUPPORTED,USAGE_MEASUREMENT_SUPPORTED,SUB_ACCOUNT_SUPPORTED,TAGGING_SUPPORTED
FOCUS_KNOWN := InvoiceId-C-004-C InvoiceId-C-005-C
FOCUS_CQ_CHAIN := ConsumedQuantity-C-000-C ConsumedQuantity-C-003-C ConsumedQuantity-C-004-C ConsumedQuantity-C-005-C ConsumedQuantity-C-006-C
FOCUS_CSV = $(abspath $(FOCUS_DIR))/focus-2026-10.csv
FOCUS_LOG = $(abspath $(FOCUS_DIR))/focus-validator.txt

focus-check: $(STAMP)  ## export the demo month as FOCUS 1.2 and check it with focus-validator (Python 3.12)
	@test -n "$(FOCUS_PY)" || { echo "focus-check: focus-validator needs Python 3.12: install it (pyenv install 3.12) or put python3.12 on PATH, or set FOCUS_PY=" >&2; exit 2; }
	$(BIN)/finops demo --out $(FOCUS_DIR) > /dev/null
	$(BIN)/finops -c $(FOCUS_DIR)/finops.toml report --month 2026-10 --format focus --focus-version 1.2 --out $(FOCUS_CSV)
	@test -x $(FOCUS_VENV)/bin/focus-validator || { $(FOCUS_PY) -m venv $(FOCUS_VENV) && \
	  $(FOCUS_VENV)/bin/pip install -q "focus-validator==2.2.1" "pyarrow<22"; }
	cd "$$($(FOCUS_VENV)/bin/python -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')" && \
	  $(abspath $(FOCUS_VENV))/bin/focus-validator --data-file $(FOCUS_CSV) --validate-version 1.2 \
	  --block-download --applicability-criteria $(FOCUS_CRITERIA) > $(FOCUS_LOG) 2>&1; \
	  grep -E '^Total: [0-9]+ \| Pass' $(FOCUS_LOG) || { tail -20 $(FOCUS_LOG); echo "focus-check: no validator summary (full output: $(FOCUS_LOG))" >&2; exit 1; }
	@cd "$$($(FOCUS_VENV)/bin/python -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')" && \
	  $(abspath $(FOCUS_VENV))/bin/focus-validator --data-file $(FOCUS_CSV) --validate-version 1.2 --block-download \
	  --applicability-criteria USAGE_MEASUREMENT_SUPPORTED --filter-rules ConsumedQuantity-C-006-C > $(FOCUS_LOG).cq 2>&1; \
	  known="$(FOCUS_KNOWN)"; if grep -qE '^Total: 1 \| Pass: 1 \| Fail: 0' $(FOCUS_LOG).cq; then \
	  echo "ConsumedQuantity-C-006-C alone: $$(grep -E '^Total' $(FOCUS_LOG).cq)"; known="$$known $(FOCUS_CQ_CHAIN)"; fi; \
	failed=$$(sed -nE 's/^❌ ([A-Za-z0-9-]+): FAIL.*/\1/p' $(FOCUS_LOG)); bad=""; \
	for r in $$failed; do case " $$known " in *" $$r "*) echo "known validator fault, not counted: $$r: $$(grep -A1 -E "^- $$r:" $(FOCUS_LOG) | tail -1 | sed 's/^ *//')";; *) bad="$$bad $$r";; esac; done; \
	if [ -n "$$bad" ]; then echo "focus-check: FAILED rules:$$bad (details: $(FOCUS_LOG))" >&2; exit 1; fi; \
	echo "focus-check: ok ($(FOCUS_CSV))"

chromium:  ## install Debian chromium + chromium-driver (browser tests skip without them)
	@command -v chromium >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

# The packages' systemd units may start Prometheus (:9090) and VictoriaMetrics (:8428) on a
# machine with systemd; the tests never use them (they start their own on free loopback ports).
metrics-servers:  ## install Debian prometheus + victoria-metrics (the prometheus source tests skip without them)
	@{ command -v prometheus && command -v promtool && command -v victoria-metrics; } >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends prometheus victoria-metrics; }

email-screenshot: $(STAMP) chromium  ## render a team's chargeback email in headless chromium to docs/email-chargeback.png
	FINOPS_EMAIL_SCREENSHOT=docs/email-chargeback.png $(BIN)/pytest tests/test_email_render.py

clean:  ## remove the virtual environment and generated output
	rm -rf $(VENV) demo-out .pytest_cache
