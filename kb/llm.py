"""Language models behind an ``Llm`` protocol, and an adapter for OpenAI-compatible endpoints.

Generation is optional: the extractive answerer needs no model. When ``KB_LLM_URL`` is set,
:class:`OpenAILikeLlm` talks to any server exposing ``POST /v1/chat/completions`` (vLLM,
llama.cpp, Ollama, LM Studio, a hosted API). Every failure becomes :class:`LlmUnavailable`
with a one-line message naming the endpoint, so callers can fall back to extractive answers.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from kb.errors import LlmUnavailable

logger = logging.getLogger(__name__)

# Local servers usually ignore the key, but the OpenAI client refuses to start without one.
_NO_KEY = "not-needed"


class Llm(Protocol):
    """A chat model answering one system + user message pair with text."""

    @property
    def model(self) -> str:
        """Model name, reported with generated answers."""
        ...

    def complete(self, system: str, user: str) -> str:
        """Return the model's reply.

        Raises:
            LlmUnavailable: The model could not produce a reply.
        """
        ...


def public_endpoint(url: str) -> str:
    """The endpoint URL without user info, query or fragment, safe to show and log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or url


class OpenAILikeLlm:
    """Chat completions from an OpenAI-compatible endpoint through llama-index's ``OpenAILike``.

    Temperature is 0 so the same passages give the same answer. Retries are bounded and
    only for connection errors, timeouts, 429 and 5xx: the OpenAI client retries a failed
    request ``max_retries`` times, and llama-index repeats the whole call up to
    ``max_retries`` times in all. The default (1) therefore makes at most 2 HTTP requests,
    each limited by ``timeout_s``; 2 makes at most 6.

    Args:
        url: Base URL of the API, e.g. ``http://127.0.0.1:8080/v1``.
        model: Model name sent with each request.
        api_key: Bearer key, if the endpoint wants one. Never logged or shown.
        timeout_s: Limit for each HTTP request, in seconds.
        max_retries: Retries after a failed request, 0..2 (0 disables them).
        max_tokens: Longest reply, in tokens (``None`` leaves it to the server).
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 1,
        max_tokens: int | None = 1024,
    ) -> None:
        if not 0 <= max_retries <= 2:
            raise ValueError("max_retries must be 0..2")
        self.url = url.rstrip("/")
        self._model = model
        self._api_key = api_key or _NO_KEY
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self._client: Any = None
        self.endpoint = public_endpoint(self.url)

    @property
    def model(self) -> str:
        """Model name sent with each request."""
        return self._model

    def _llm(self) -> Any:
        if self._client is None:
            from llama_index.llms.openai_like import OpenAILike

            self._client = OpenAILike(
                model=self._model,
                api_base=self.url,
                api_key=self._api_key,
                is_chat_model=True,
                is_function_calling_model=False,
                temperature=0.0,
                max_tokens=self.max_tokens,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def complete(self, system: str, user: str) -> str:
        """Send one chat exchange and return the reply text.

        Raises:
            LlmUnavailable: Connection refused, timeout, HTTP error or an empty reply.
        """
        from llama_index.core.llms import ChatMessage, MessageRole

        messages = [
            ChatMessage(role=MessageRole.SYSTEM, content=system),
            ChatMessage(role=MessageRole.USER, content=user),
        ]
        try:
            response = self._llm().chat(messages)
        except Exception as exc:  # every client failure means the same thing to callers
            problem = _describe(exc, self.timeout_s)
            logger.warning("LLM endpoint %s failed: %s", self.endpoint, problem)
            raise LlmUnavailable(f"LLM endpoint {self.endpoint} {problem}") from None
        text = (response.message.content or "").strip()
        if not text:
            logger.warning("LLM endpoint %s returned an empty reply", self.endpoint)
            raise LlmUnavailable(f"LLM endpoint {self.endpoint} returned an empty reply")
        return text


def _describe(exc: Exception, timeout_s: float) -> str:
    """A short description of a client failure, without response bodies or credentials."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, openai.APIConnectionError):
        return "could not be reached (connection failed)"
    if isinstance(exc, openai.AuthenticationError):
        return "rejected the API key (HTTP 401)"
    if isinstance(exc, openai.APIStatusError):
        return f"returned HTTP {exc.status_code}"
    if isinstance(exc, openai.APIResponseValidationError):
        return "returned a malformed response"
    return f"failed ({type(exc).__name__})"
