"""OpenAI-compatible endpoints (the paper's GPT-4o judge and rewriter): settings, the API key and retries.

A paper-sized study makes hundreds of thousands of paid calls (``python -m helpers plan configs/paper.yaml``
counts them), so every call survives the faults real endpoints show: a 429 (waiting what its ``Retry-After``
asks), a 5xx, a timeout, a dropped connection and a status-200 reply whose body is not JSON are retried with
exponential backoff, up to ``max_retries`` times; a 401/403 stops at once, naming the variable to set; every error
names the endpoint's model and base URL. The ``openai`` client's own retries are switched off, so one budget
counts every fault. That policy is :func:`retry_options`, the one tenacity configuration the judge and the
rewriter both call through (:func:`call_with_retries`, :func:`call_with_retries_async`).

One key serves judge and rewriter (README, "The paper's study on GPUs"): ``WARMBOOK_JUDGE_API_KEY``, else
``OPENAI_API_KEY``. It lives in a pydantic ``SecretStr``, which prints as ``**********``, and never in the
settings, which are written into run records.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import openai
import tenacity
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from helpers.validation import ParameterError

KEY_VARIABLE = "WARMBOOK_JUDGE_API_KEY"
FALLBACK_KEY_VARIABLE = "OPENAI_API_KEY"
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The first wait after a fault; it doubles with each retry (with jitter) up to MAX_BACKOFF_S.
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
#: The longest ``Retry-After`` honoured as given; a longer one is cut to this.
MAX_RETRY_AFTER_S = 300.0

T = TypeVar("T")


class EndpointSettings(BaseModel):
    """Where and how an OpenAI-compatible model is called. Frozen; no key (see :func:`api_key`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL (vLLM, llama.cpp, Ollama...); None: OpenAI's API."
    )
    model: str = Field(min_length=1, description="The endpoint's model name (paper: gpt-4o).")
    timeout: float = Field(60.0, gt=0, description="Seconds one request may take before it is retried.")
    max_retries: int = Field(
        5,
        ge=0,
        description="Retries of one item after a fault (429, 5xx, timeout, dropped connection, malformed "
        "reply); after the last one the item is recorded as failed and retried on the next run.",
    )
    concurrency: int = Field(8, gt=0, description="Requests in flight at the same time.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://\S+$", value):
            raise ValueError("None (OpenAI) or the http(s) URL of an OpenAI-compatible endpoint")
        return value

    def describe(self) -> str:
        """How errors name the endpoint: its model and base URL."""
        return f"model {self.model!r} at {self.base_url or OPENAI_BASE_URL}"


def api_key(settings: EndpointSettings) -> SecretStr:
    """The key for ``settings``' endpoint: ``WARMBOOK_JUDGE_API_KEY``, else ``OPENAI_API_KEY``.

    OpenAI's API needs one (refused here, before any request); a local server without authentication gets a
    placeholder.
    """
    key = os.environ.get(KEY_VARIABLE) or os.environ.get(FALLBACK_KEY_VARIABLE)
    if key:
        return SecretStr(key)
    if settings.base_url is None:
        raise ParameterError(
            KEY_VARIABLE, None, f"an API key for OpenAI's API (or set {FALLBACK_KEY_VARIABLE})"
        )
    return SecretStr("not-needed")


class RemoteError(RuntimeError):
    """An endpoint gave no usable reply after every retry, or refused a request that no retry can fix."""


class RemoteAuthError(RemoteError):
    """401/403: the key is missing, wrong or lacks access. Retrying cannot help, so the run stops."""


class MalformedReply(ValueError):
    """A status-200 reply with no usable content (no choices, no message, not the requested format)."""


class AskAgain(MalformedReply):
    """A reply the caller answers at once with a correction (the judge's reply that is not a verdict).

    It spends one of ``max_retries`` like any fault, but nothing went wrong at the endpoint, so there is no
    backoff; its message is the whole fault description.
    """


def _retry_after(error: openai.APIStatusError) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP date)."""
    headers = error.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            date = email.utils.parsedate_to_datetime(value)
            return date.timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def hopeless_fault(settings: EndpointSettings, error: Exception) -> RemoteError | None:
    """The error to stop with instead of retrying ``error``, or None when a retry may help.

    401/403 give :class:`RemoteAuthError` naming the key variable; other 4xx (the request itself is wrong)
    :class:`RemoteError`. 408, 409, 429, 5xx, timeouts, dropped connections and malformed replies are retried.
    """
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return RemoteAuthError(
            f"{settings.describe()} refused the API key (HTTP {error.status_code}): set {KEY_VARIABLE} "
            f"(or {FALLBACK_KEY_VARIABLE}) to a key with access to this model."
        )
    retryable = isinstance(
        error,
        openai.APIConnectionError | openai.APIResponseValidationError | json.JSONDecodeError | MalformedReply,
    ) or (
        isinstance(error, openai.APIStatusError)
        and (error.status_code in (408, 409, 429) or error.status_code >= 500)
    )
    if not retryable:
        return RemoteError(f"{settings.describe()} rejected the request: {describe_fault(error)}")
    return None


def fault_delay(error: Exception, attempt: int) -> float:
    """Seconds to wait before retrying after the retryable ``error`` of attempt ``attempt`` (0-based).

    429 waits what ``Retry-After`` asks (at most MAX_RETRY_AFTER_S), :class:`AskAgain` not at all, other faults
    back off exponentially with jitter from INITIAL_BACKOFF_S (read at each call, so tests can shrink it).
    """
    if isinstance(error, AskAgain):
        return 0.0
    backoff = min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2**attempt) * random.uniform(0.5, 1.0)
    if isinstance(error, openai.APIStatusError) and error.status_code == 429:
        asked = _retry_after(error)
        if asked is not None and asked >= 0:
            return min(asked, MAX_RETRY_AFTER_S)
    return backoff


def retry_options(settings: EndpointSettings, give_up: Callable[[list[str]], Exception]) -> dict[str, Any]:
    """The retry policy of every endpoint call, as keyword arguments of ``tenacity.Retrying``/``AsyncRetrying``.

    Up to ``settings.max_retries`` retries after the first attempt, waiting :func:`fault_delay`; an
    ``openai`` error or ``ValueError`` that :func:`hopeless_fault` rejects ends the call at once with the
    error it names (raised from the retry check, so one check serves blocking and asyncio calls); any other
    exception is not a fault and passes through unchanged. Each fault is described (:func:`describe_fault`) in
    order; after the last attempt the call raises ``give_up(descriptions)``.
    """
    faults: list[str] = []

    def is_fault(error: BaseException) -> bool:
        if not isinstance(error, openai.OpenAIError | ValueError):
            return False
        hopeless = hopeless_fault(settings, error)
        if hopeless is not None:
            raise hopeless from error
        return True

    def record(state: tenacity.RetryCallState) -> None:
        faults.append(describe_fault(_failure(state)))

    def wait(state: tenacity.RetryCallState) -> float:
        return fault_delay(_failure(state), state.attempt_number - 1)

    def fail(state: tenacity.RetryCallState) -> None:
        raise give_up(faults)

    return {
        "stop": tenacity.stop_after_attempt(settings.max_retries + 1),
        "wait": wait,
        "retry": tenacity.retry_if_exception(is_fault),
        "after": record,
        "retry_error_callback": fail,
    }


def _failure(state: tenacity.RetryCallState) -> Exception:
    """The exception of the attempt that just failed: tenacity calls the policy's hooks only after
    ``is_fault`` accepted one, so there is an outcome and it is an ``Exception``."""
    return cast(Exception, cast(tenacity.Future, state.outcome).exception())


def call_with_retries(
    settings: EndpointSettings, attempt: Callable[[], T], give_up: Callable[[list[str]], Exception]
) -> T:
    """``attempt()`` under the retry policy (:func:`retry_options`), sleeping between attempts."""
    return tenacity.Retrying(**retry_options(settings, give_up))(attempt)


async def call_with_retries_async(
    settings: EndpointSettings,
    attempt: Callable[[], Awaitable[T]],
    give_up: Callable[[list[str]], Exception],
) -> T:
    """``await attempt()`` under the retry policy (:func:`retry_options`), waiting with ``asyncio.sleep``."""
    return await tenacity.AsyncRetrying(**retry_options(settings, give_up))(attempt)


def describe_fault(error: Exception) -> str:
    """A short, key-free description of one fault for error messages and failure records."""
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed or dropped"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, json.JSONDecodeError):
        return "malformed reply (status 200, body is not JSON)"
    if isinstance(error, AskAgain):
        return str(error)
    return f"{type(error).__name__}: {error}"


def reply_content(completion: object) -> str:
    """The assistant message of a chat completion; :class:`MalformedReply` when there is none."""
    choices = getattr(completion, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise MalformedReply("the reply has no message")
    return choices[0].message.content or ""


def _client_options(settings: EndpointSettings) -> dict[str, Any]:
    """The client's endpoint, key and timeout, with its own retries off (:func:`retry_options` counts every
    fault)."""
    return {
        "base_url": settings.base_url or OPENAI_BASE_URL,
        "api_key": api_key(settings).get_secret_value(),
        "timeout": settings.timeout,
        "max_retries": 0,
    }


def sync_client(settings: EndpointSettings) -> openai.OpenAI:
    """A blocking client."""
    return openai.OpenAI(**_client_options(settings))


def async_client(settings: EndpointSettings) -> openai.AsyncOpenAI:
    """An asyncio client, for many requests in flight."""
    return openai.AsyncOpenAI(**_client_options(settings))
