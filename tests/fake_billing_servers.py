"""Loopback fakes of the OpenAI and Anthropic admin billing endpoints (pytest-httpserver).

They speak the shapes of the fixtures in tests/fixtures/billing (copied from shared/fixtures): daily buckets built
from the requested window (OpenAI's first bucket starts at the requested start_time,
aligned or not; days without data come back with empty ``results``), cursor pages of
``limit`` buckets, auth checks, both ``group_by[]=`` and repeated ``group_by=`` encodings,
and scripted faults (status, headers, body, delay) consumed before normal answers.
The key listings (OpenAI per project, Anthropic per organization) page by ``after`` /
``after_id`` = the previous page's ``last_id``, with ``limit`` checked; an unknown OpenAI
project is a 404.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"
DATA = Path(__file__).parent / "data" / "billing"


def fixture(name: str) -> Any:
    """A shared fixture file, decoded."""
    return json.loads((FIXTURES / name).read_text())


@contextlib.contextmanager
def loopback() -> Iterator[HTTPServer]:
    """A threaded loopback server on a free port (threaded: a sleeping handler for the
    timeout test must not block the retry)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@dataclass
class Fault:
    """One scripted answer: ``status`` None means "answer normally after ``delay``"."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes = ""
    delay: float = 0.0


def day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def midnight(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _cursor(offset: int) -> str:
    return "page_" + base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    return int(base64.b64decode(cursor.removeprefix("page_")).decode().split(":")[1])


def _group_by(req: Request) -> list[str]:
    return req.args.getlist("group_by[]") + req.args.getlist("group_by")


class _Fake:
    """Shared machinery: request log, faults, pagination."""

    endpoints: dict[str, tuple[str | re.Pattern[str], set[str], int]] = {}  # name -> (path, group_by, max limit)

    def __init__(self, server: HTTPServer, key: str, data: dict[str, dict[date, list[dict]]],
                 ) -> None:
        self.server = server
        self.key = key
        self.data = data
        self.faults: dict[str, list[Fault]] = {name: [] for name in self.endpoints}
        self.log: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.repeat_cursor = False
        for name, (path, _, _) in self.endpoints.items():
            server.expect_request(path).respond_with_handler(self._handler(name))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def fail(self, name: str, *faults: Fault) -> None:
        self.faults[name].extend(faults)

    def requests(self, name: str) -> list[dict[str, list[str]]]:
        return [args for n, args, _ in self.log if n == name]

    def _handler(self, name: str):  # noqa: ANN202
        def handle(req: Request) -> Response:
            self.log.append((name, {k: req.args.getlist(k) for k in req.args},
                             dict(req.headers)))
            if self.faults[name]:
                f = self.faults[name].pop(0)
                if f.delay:
                    time.sleep(f.delay)
                if f.status is not None:
                    return Response(f.body, status=f.status, headers=f.headers,
                                    content_type=f.headers.get("content-type", "application/json"))
            return self.answer(name, req)
        return handle

    def error(self, status: int, etype: str, message: str) -> Response:
        raise NotImplementedError

    def page(self, name: str, buckets: list[dict], req: Request) -> Response:
        _, _, max_limit = self.endpoints[name]
        try:
            limit = int(req.args.get("limit", "7"))
        except ValueError:
            return self.error(400, "invalid_request_error", "limit must be an integer")
        if not 1 <= limit <= max_limit:
            return self.error(400, "invalid_request_error", f"limit must be 1..{max_limit}")
        offset = _offset(req.args["page"]) if "page" in req.args else 0
        chunk = buckets[offset:offset + limit]
        more = offset + limit < len(buckets)
        nxt = _cursor(offset + limit) if more else None
        if more and self.repeat_cursor:
            nxt = _cursor(limit)  # a server bug: the same cursor again and again
        return Response(json.dumps(self.envelope(chunk, more, nxt)), status=200,
                        content_type="application/json")

    def envelope(self, chunk: list[dict], more: bool, nxt: str | None) -> dict:
        return {"data": chunk, "has_more": more, "next_page": nxt}

    def list_page(self, name: str, items: list[dict], req: Request, cursor: str) -> Response:
        """A key-listing page: ``limit`` items after the id in ``cursor``, ``last_id`` to go on."""
        _, _, max_limit = self.endpoints[name]
        try:
            limit = int(req.args.get("limit", "20"))
        except ValueError:
            return self.error(400, "invalid_request_error", "limit must be an integer")
        if not 1 <= limit <= max_limit:
            return self.error(400, "invalid_request_error", f"limit must be 1..{max_limit}")
        ids = [k["id"] for k in items]
        after = req.args.get(cursor)
        if after is not None and after not in ids:
            return self.error(400, "invalid_request_error", f"{cursor} {after!r} is not a key of this list")
        start = ids.index(after) + 1 if after is not None else 0
        chunk = items[start:start + limit]
        more = start + limit < len(items)
        last = chunk[-1]["id"] if chunk else None
        if more and self.repeat_cursor:
            last = items[0]["id"]  # a server bug: the same cursor again and again
        body = {"data": chunk, "first_id": chunk[0]["id"] if chunk else None, "last_id": last, "has_more": more}
        return Response(json.dumps(self.list_envelope(body)), status=200, content_type="application/json")

    def list_envelope(self, body: dict) -> dict:
        return body

    def answer(self, name: str, req: Request) -> Response:
        raise NotImplementedError


OPENAI_KEYS_PATH = re.compile(r"^/v1/organization/projects/([^/]+)/api_keys$")


class FakeOpenAI(_Fake):
    """``/v1/organization/costs``, ``/v1/organization/usage/completions`` and the key listing.

    ``keys`` maps a project id to its key objects (``openai_key``); a project not in it is a 404.
    """

    endpoints = {
        "costs": ("/v1/organization/costs", {"project_id", "line_item"}, 180),
        "usage": ("/v1/organization/usage/completions",
                  {"model", "project_id", "batch", "service_tier", "api_key_id"}, 31),
        "api_keys": (OPENAI_KEYS_PATH, set(), 100),
    }

    def __init__(self, server: HTTPServer, key: str, *, costs: dict[date, list[dict]] | None = None,
                 usage: dict[date, list[dict]] | None = None, bucket_key: str = "results",
                 first_bucket_offset: int = 0, keys: dict[str, list[dict]] | None = None) -> None:
        super().__init__(server, key, {"costs": costs or {}, "usage": usage or {}})
        self.bucket_key = bucket_key
        self.first_bucket_offset = first_bucket_offset
        self.keys = keys or {}

    def error(self, status: int, etype: str, message: str) -> Response:
        body = {"error": {"type": etype, "message": message, "param": None, "code": None}}
        return Response(json.dumps(body), status=status, content_type="application/json")

    def envelope(self, chunk: list[dict], more: bool, nxt: str | None) -> dict:
        return {"object": "page", "data": chunk, "has_more": more, "next_page": nxt}

    def list_envelope(self, body: dict) -> dict:
        return {"object": "list", **body}

    def answer(self, name: str, req: Request) -> Response:
        auth = req.headers.get("Authorization", "")
        if auth != f"Bearer {self.key}":
            return self.error(401, "invalid_request_error",
                              f"Incorrect API key provided: {auth.removeprefix('Bearer ')}")
        if name == "api_keys":
            m = OPENAI_KEYS_PATH.match(req.path)
            project = m.group(1) if m else ""
            if project not in self.keys:
                return self.error(404, "invalid_request_error", f"No such project: {project}")
            return self.list_page(name, self.keys[project], req, "after")
        _, group_by, _ = self.endpoints[name]
        if set(_group_by(req)) != group_by:
            return self.error(400, "invalid_request_error", f"bad group_by {_group_by(req)}")
        if req.args.get("bucket_width", "1d") != "1d":
            return self.error(400, "invalid_request_error", "bucket_width must be 1d")
        try:
            start = int(req.args["start_time"]) + self.first_bucket_offset
            end = int(req.args.get("end_time", start + 86400 * 7))
        except (KeyError, ValueError):
            return self.error(400, "invalid_request_error", "start_time is required")
        buckets, t = [], start
        while t < end:
            nxt = midnight(day_of(t) + timedelta(days=1))
            results = copy.deepcopy(self.data[name].get(day_of(t), []))
            buckets.append({"object": "bucket", "start_time": t, "end_time": nxt,
                            self.bucket_key: results})
            t = nxt
        return self.page(name, buckets, req)


def rfc3339(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


class FakeAnthropic(_Fake):
    """``/v1/organizations/cost_report`` and ``/v1/organizations/usage_report/messages``."""

    endpoints = {
        "cost_report": ("/v1/organizations/cost_report", {"workspace_id", "description"}, 31),
        "usage_report": ("/v1/organizations/usage_report/messages",
                         {"model", "workspace_id", "service_tier", "context_window", "api_key_id"}, 31),
        "api_keys": ("/v1/organizations/api_keys", set(), 1000),
    }

    def __init__(self, server: HTTPServer, key: str, *,
                 costs: dict[date, list[dict]] | None = None,
                 usage: dict[date, list[dict]] | None = None, keys: list[dict] | None = None) -> None:
        super().__init__(server, key, {"cost_report": costs or {}, "usage_report": usage or {}})
        self.keys = keys or []

    def error(self, status: int, etype: str, message: str) -> Response:
        body = {"type": "error", "error": {"type": etype, "message": message},
                "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
        return Response(json.dumps(body), status=status, content_type="application/json",
                        headers={"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"})

    def answer(self, name: str, req: Request) -> Response:
        if req.headers.get("x-api-key") != self.key:
            return self.error(401, "authentication_error", "invalid x-api-key")
        if req.headers.get("anthropic-version") != "2023-06-01":
            return self.error(400, "invalid_request_error", "anthropic-version header required")
        if name == "api_keys":
            return self.list_page(name, self.keys, req, "after_id")
        _, group_by, _ = self.endpoints[name]
        if set(_group_by(req)) != group_by:
            return self.error(400, "invalid_request_error", f"bad group_by {_group_by(req)}")
        try:
            start = datetime.fromisoformat(req.args["starting_at"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(req.args["ending_at"].replace("Z", "+00:00"))
        except (KeyError, ValueError):
            return self.error(400, "invalid_request_error", "starting_at is required")
        buckets, d = [], start.date()
        while d < end.date():
            buckets.append({"starting_at": rfc3339(d), "ending_at": rfc3339(d + timedelta(days=1)),
                            "results": copy.deepcopy(self.data[name].get(d, []))})
            d += timedelta(days=1)
        return self.page(name, buckets, req)


# ----------------------------------------------------------------- result builders
# Each starts from a shared fixture's result object and overrides fields.

def openai_cost(value: float, line_item: str | None, project_id: str | None = "proj_abc", *,
                quantity: float | None = None, unit: str | None = None,
                shape: int = 2026) -> dict:
    """A costs result in the 2025 or 2026 spec shape."""
    res = fixture(f"openai_costs_result_object_spec{shape}.json")
    res.update(amount={"value": value, "currency": "usd"}, line_item=line_item,
               project_id=project_id)
    if shape == 2026:
        res.update(api_key_id=None, quantity=quantity, quantity_unit=unit)
    return res


def openai_usage(model: str, input_tokens: int, cached: int, output: int, *,
                 project_id: str | None = "proj_abc", cache_write: int | None = None,
                 uncached: int | None = None, batch: bool = False,
                 service_tier: str | None = "default", shape: int = 2026,
                 api_key_id: str | None = None) -> dict:
    """A usage completions result in the 2025 or 2026 spec shape (``api_key_id`` null unless given)."""
    res = fixture(f"openai_usage_completions_result_object_spec{shape}.json")
    res.update(model=model, input_tokens=input_tokens, input_cached_tokens=cached,
               output_tokens=output, project_id=project_id, batch=batch, api_key_id=api_key_id)
    if shape == 2026:
        res.update(input_cache_write_tokens=cache_write or 0, service_tier=service_tier)
        if uncached is None:
            res.pop("input_uncached_tokens")
        else:
            res["input_uncached_tokens"] = uncached
    return res


def anthropic_cost(amount: str, description: str | None, token_type: str | None, *,
                   model: str | None = "claude-sonnet-4-20250514",
                   workspace_id: str | None = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                   service_tier: str | None = "standard", context_window: str | None = "0-200k",
                   cost_type: str = "tokens") -> dict:
    """A cost report result shaped like the docs example."""
    res = fixture("anthropic_cost_report_response_docs2025.json")["data"][0]["results"][0]
    res.update(amount=amount, description=description, token_type=token_type, model=model,
               workspace_id=workspace_id, service_tier=service_tier,
               context_window=context_window, cost_type=cost_type)
    return res


def anthropic_usage(uncached: int, read: int, write_5m: int, write_1h: int, output: int, *,
                    model: str = "claude-sonnet-4-20250514",
                    workspace_id: str | None = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                    service_tier: str = "standard", context_window: str = "0-200k",
                    api_key_id: str | None = None) -> dict:
    """A usage report result shaped like the docs example (``api_key_id`` null unless given)."""
    res = fixture("anthropic_usage_report_messages_response_docs2025.json")["data"][0]["results"][0]
    res.update(uncached_input_tokens=uncached, cache_read_input_tokens=read,
               cache_creation={"ephemeral_1h_input_tokens": write_1h,
                               "ephemeral_5m_input_tokens": write_5m},
               output_tokens=output, model=model, workspace_id=workspace_id,
               service_tier=service_tier, context_window=context_window, api_key_id=api_key_id)
    return res


def openai_key(key_id: str, name: str | None, hint: str | None = "sk-abc...def") -> dict:
    """A project API key object shaped like the spec's listing example."""
    res = copy.deepcopy(fixture("openai_project_api_keys_list_response_spec.json")["data"][0])
    res.update(id=key_id, name=name, redacted_value=hint)
    return res


def anthropic_key(key_id: str, name: str | None, workspace_id: str | None = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                  hint: str | None = "sk-ant-api03-R2D...igAA") -> dict:
    """An API key object shaped like the docs' listing example."""
    res = copy.deepcopy(fixture("anthropic_api_keys_list_response_docs.json")["data"][0])
    res.update(id=key_id, name=name, workspace_id=workspace_id, partial_key_hint=hint)
    return res


class Sleeps(list[float]):
    """An injected ``sleep`` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
