"""`LLMConfig`: endpoint, key, a model per role, timeouts, retries, prices and caps.

Sources, strongest first: explicit values (the lead's CLI flags), the environment
(`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `AGENTNAS_LLM_MODEL`, `AGENTNAS_LLM_<ROLE>_MODEL`), a settings
mapping (the `[llm]` table of agentnas.toml), then the defaults.

The API key is a `SecretStr`: it prints as `**********` in reprs, `model_dump_json` and
`public_dict`, and the records the layer writes never carry it. Local servers (vLLM, Ollama,
llama.cpp) need no key, but the openai client refuses an empty one, so `api_key_value()` gives
the placeholder `NO_KEY_PLACEHOLDER` when none is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from agentnas.llm.errors import LLMConfigError

Role = Literal["researcher", "engineer", "analyst"]
ROLES: tuple[Role, ...] = get_args(Role)
NO_KEY_PLACEHOLDER = "agentnas-no-key"

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "AGENTNAS_LLM_MODEL"


def role_env(role: str) -> str:
    return f"AGENTNAS_LLM_{role.upper()}_MODEL"


class ModelPrice(BaseModel):
    """USD per million tokens for one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_usd_per_m: float = Field(ge=0)
    completion_usd_per_m: float = Field(ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_usd_per_m + completion_tokens * self.completion_usd_per_m) / 1e6


class LLMCaps(BaseModel):
    """Hard caps over a run's live calls; None is no cap."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_calls: int | None = Field(default=None, gt=0)


def normalise_base_url(url: str) -> str:
    """The OpenAI-compatible root ending in /v1. Accepts a bare host (`/v1` is added), a trailing
    slash, or a pasted `.../chat/completions`; anything else that does not end in /v1 is an error."""
    raw = url.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LLMConfigError(f"LLM base URL {raw!r} must be an http(s) URL such as http://localhost:8000/v1")
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if path == "":
        path = "/v1"
    if not path.endswith("/v1"):
        raise LLMConfigError(
            f"LLM base URL {raw!r} must end in /v1, the root of the OpenAI-compatible API "
            f"(e.g. http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# the 1.5B model's recombinations of two long files were valid 4 times in 10, its edits of one file 9 in 14
RECOMBINE_CHARS = 3000


class LLMConfig(BaseModel):
    """Everything the LLM layer needs. Build it with `LLMConfig.resolve(...)`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    researcher_model: str | None = None
    engineer_model: str | None = None
    analyst_model: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)  # the openai SDK's own default; slow local models need more
    check_timeout_s: float = Field(default=30.0, gt=0)  # a busy local server answers slowly; a dead one refuses at once
    max_retries: int = Field(default=4, ge=0)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_retry_after_s: float = Field(default=300.0, ge=0)
    # sampling temperature of every call unless a call sets its own (a re-ask after a repeat or a broken
    # proposal asks hotter, the chat interpreter at 0); None: the server's default (0.8 on llama.cpp's,
    # 1 on OpenAI's), where small models invent APIs and wander off the reply format more often
    temperature: float | None = Field(default=0.4, ge=0, le=2)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    json_mode: bool = False   # also send response_format json_object; dropped if the server refuses it
    # structured output: send the reply's JSON schema as response_format (json_schema, then json_object +
    # schema); whatever the server refuses is dropped for the session and the reply is parsed leniently
    structured: bool = True
    # "auto": each reply in its own style (code, hypotheses and lessons in words, steering as JSON);
    # "json": every reply as one JSON object, for models that write JSON well
    reply_format: Literal["auto", "json"] = "auto"
    prompt_token_cap: int = Field(default=2500, gt=200)  # estimated tokens of one prompt (optional parts drop)
    max_calls_per_eval: float | None = Field(default=4.0, gt=0)  # LLM calls per evaluated candidate (None: no bound)
    stream: bool = False      # stream completions (usage from the final chunk)
    # replies in words with a code block are streamed and no longer read once the model writes on past the
    # block (small models do: a 1.5B one filled its token limit with more files after a complete answer);
    # the usage of such a reply is estimated (the server sends it last)
    stop_after_answer: bool = True
    # two parents' files longer than this together (characters as a prompt shows them) are recombined by the
    # grammar, not the model (None: the model recombines any); a small model's recombinations of two long
    # files fail far more often than its edits of one
    recombine_chars: int | None = Field(default=RECOMBINE_CHARS, gt=0)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    caps: LLMCaps = LLMCaps()

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return normalise_base_url(v) if v else None

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: SecretStr | None) -> SecretStr | None:
        return v if v is not None and v.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _usd_cap_needs_prices(self) -> LLMConfig:
        if self.caps.max_usd is not None:
            unpriced = sorted({m for m in self.models().values() if m not in self.prices})
            if unpriced:
                raise ValueError(f"caps.max_usd is set but the price table has no entry for {', '.join(unpriced)}; "
                                 "add [llm.prices.\"<model>\"] prompt_usd_per_m / completion_usd_per_m")
        return self

    def models(self) -> dict[str, str]:
        """Role -> model for the roles that have one."""
        out: dict[str, str] = {}
        for role in ROLES:
            m = getattr(self, f"{role}_model") or self.model
            if m:
                out[role] = m
        return out

    def model_for(self, role: str) -> str:
        if role not in ROLES:
            raise LLMConfigError(f"unknown LLM role {role!r}; expected one of {', '.join(ROLES)}")
        model = self.models().get(role)
        if not model:
            raise LLMConfigError(f"no model configured for the {role}: pass --llm-model or set {ENV_MODEL} "
                                 f"(or {role_env(role)} for this role alone)")
        return model

    def require_endpoint(self) -> str:
        if not self.base_url:
            raise LLMConfigError(f"no LLM endpoint configured: pass --llm-base-url or set {ENV_BASE_URL} "
                                 "(e.g. http://localhost:8000/v1)")
        for role in ROLES:
            self.model_for(role)
        return self.base_url

    def api_key_value(self) -> str:
        """The key for the openai client; a placeholder for endpoints that need none."""
        return self.api_key.get_secret_value() if self.api_key is not None else NO_KEY_PLACEHOLDER

    def public_dict(self) -> dict[str, Any]:
        """Everything but the key: safe for the journal and reports."""
        return self.model_dump(mode="json", exclude={"api_key"}) | {"api_key_set": self.api_key is not None}

    @classmethod
    def resolve(cls, *, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                env: Mapping[str, str] | None = None, settings: Mapping[str, Any] | None = None,
                **overrides: Any) -> LLMConfig:
        """Explicit values > environment > `settings` (e.g. the [llm] TOML table) > defaults.
        Values that are None or empty are treated as not given."""
        env = os.environ if env is None else env
        values: dict[str, Any] = dict(settings or {})

        def layer(name: str, *candidates: Any) -> None:
            for c in candidates:
                if c is not None and c != "":
                    values[name] = c
                    return

        layer("base_url", base_url, env.get(ENV_BASE_URL))
        layer("api_key", api_key, env.get(ENV_API_KEY))
        layer("model", model, env.get(ENV_MODEL))
        for role in ROLES:
            layer(f"{role}_model", overrides.pop(f"{role}_model", None), env.get(role_env(role)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except LLMConfigError:
            raise
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {_short(err)}" for err in e.errors())
            raise LLMConfigError(f"invalid LLM configuration: {problems}") from None


def _short(err: Any) -> str:
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
