"""Reading one source's options table from ``finops.toml``: one set of checks for every kind.

Span sources (Tempo, OpenObserve, files) and billing sources (Admin APIs, saved reports,
FOCUS files) all read their ``[[sources]]`` / ``[[billing]]`` table through an
:class:`OptionReader`: an unknown key is refused with a did-you-mean, and every error names
the source and the key (``sources.tempo: timeout must be a positive number of seconds``).
Secrets are read from the environment variables the options name, never from the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from finops.config import secret_from_env
from finops.errors import ConfigError, unknown_key

__all__ = ["OptionReader", "checking_only"]

_MISSING = object()
# True while a config is being checked at load time: options are type-checked, secrets are
# not read (a command that never calls the source must not need its key).
_CHECKING = ContextVar("finops_options_checking", default=False)


@contextmanager
def checking_only() -> Iterator[None]:
    """Check options without reading secrets, for the block.

    :meth:`OptionReader.secret` and :meth:`~OptionReader.basic_auth` check the names of the
    environment variables and return placeholders.
    """
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


class OptionReader:
    """Typed reads of a source's options; unknown keys are refused when it is built."""

    def __init__(self, options: Mapping[str, Any], where: str, allowed: Iterable[str]) -> None:
        self.options = dict(options)
        self.where = where
        allowed = set(allowed)
        # Keys the config itself reads are no options, but a typo of one deserves the hint.
        hints = allowed | {"name", "kind"} | ({"input_convention", "sampling"} if where.startswith("sources.") else set())
        for key in self.options:
            if key not in allowed:
                raise unknown_key(key, hints, "option", where)

    def __contains__(self, key: str) -> bool:
        return key in self.options

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value of ``key`` (``default`` when absent)."""
        return self.options.get(key, default)

    def fail(self, key: str, problem: str) -> ConfigError:
        """A config error naming the source and ``key``."""
        return ConfigError(f"{self.where}: {key} {problem}")

    def url(self, key: str = "url", *, example: str, default: Any = _MISSING) -> str:
        """An ``http(s)://`` URL."""
        value = self.options.get(key, None if default is _MISSING else default)
        if not isinstance(value, str) or not re.match(r"https?://", value):
            raise self.fail(key, f"must be an http(s) URL such as \"{example}\"")
        return value

    def string(self, key: str, default: str | None = None, *, what: str = "a non-empty string") -> str | None:
        """A non-empty string without NUL bytes (``default`` when absent)."""
        value = self.options.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value or "\x00" in value:
            raise self.fail(key, f"must be {what}")
        return value

    def positive_int(self, key: str, default: int, *, what: str = "a positive integer") -> int:
        """An integer ≥ 1 (booleans are not integers here)."""
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"must be {what}")
        return value

    def seconds(self, key: str, default: float) -> float:
        """A positive number of seconds."""
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, "must be a positive number of seconds")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        value = self.options.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def verify_tls(self) -> bool | str:
        """``verify_tls``: true, false or the path of a CA bundle."""
        value = self.options.get("verify_tls", True)
        if not isinstance(value, bool | str):
            raise self.fail("verify_tls", "must be true, false or a CA bundle path")
        return value

    def table(self, key: str, *, example: str) -> Mapping[str, Any]:
        """A TOML table (``{}`` when absent)."""
        value = self.options.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table, e.g. {example}")
        return value

    def credentials(self) -> tuple[tuple[str, str] | None, str | None]:
        """Basic auth (``user_env``/``password_env``) or a bearer token (``token_env``), not both."""
        basic = self.basic_auth()
        if not self.get("token_env"):
            return basic, None
        if basic:
            raise ConfigError(f"{self.where}: set either user_env/password_env or token_env, not both")
        return None, self.secret("token_env")

    def basic_auth(self) -> tuple[str, str] | None:
        """``user_env`` and ``password_env``: both or neither, read from the environment."""
        user_env, password_env = self.options.get("user_env"), self.options.get("password_env")
        if not (user_env or password_env):
            return None
        if not (user_env and password_env):
            raise ConfigError(f"{self.where}: basic auth needs both user_env and password_env")
        for key, env in (("user_env", user_env), ("password_env", password_env)):
            if not isinstance(env, str):
                raise self.fail(key, "must name an environment variable")
        if _CHECKING.get():
            return ("", "")
        user = secret_from_env(user_env, f"{self.where}.user_env")
        password = secret_from_env(password_env, f"{self.where}.password_env")
        assert user is not None and password is not None
        return user.reveal(), password.reveal()

    def secret(self, key: str, default_env: str | None = None) -> str | None:
        """The secret in the environment variable named by ``key`` (or ``default_env``)."""
        env = self.options.get(key, default_env)
        if env is None:
            return None
        if not isinstance(env, str) or not env:
            raise self.fail(key, "must name an environment variable")
        if _CHECKING.get():
            return ""
        found = secret_from_env(env, f"{self.where}.{key}")
        assert found is not None
        return found.reveal()

    def paths(self, key: str, *, required: bool = False) -> list[str]:
        """A list of file paths or globs (one string is a list of one)."""
        value = self.options.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise self.fail(key, "must be a list of file paths or globs")
        if required and not value:
            raise self.fail(key, "lists no files")
        return value
