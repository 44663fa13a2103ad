"""Optional: an LLM rewrites an insight in its own words, held to the facts.

The endpoint is OpenAI-compatible (``push.llm_url``, ``llm_model``, ``llm_api_key``): one
chat completion per insight, given the facts and the template's text. Its answer is used
only if every number in it is one of the numbers it was given (the facts, or the
template's text written from them); otherwise, or when the endpoint fails, the template's
text is sent. The key is a secret: never logged, sent only as the bearer token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import requests
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from common.settings import PushSettings

log = logging.getLogger(__name__)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
SYSTEM = (
    "你是零售企业的数据分析师。把给出的经营洞察改写成一两句自然、简洁的中文,"
    "面向门店经理。只能使用给出的事实中的数字,不要计算新的数字,不要编造。"
)


class LlmUnavailable(RuntimeError):
    """The endpoint did not answer with a completion (worth another try)."""


class LlmRefused(LlmUnavailable):
    """The endpoint refused the request itself (key, model, format): not retried."""


def numbers(text: str) -> set[str]:
    """The numbers in a text, as written without thousands separators."""
    return {match.replace(",", "") for match in NUMBER.findall(text)}


def holds_to_facts(text: str, facts: Mapping[str, object], template: str) -> bool:
    given = numbers(template) | numbers(" ".join(str(value) for value in facts.values()))
    return bool(text.strip()) and numbers(text) <= given


def complete(settings: PushSettings, title: str, template: str,
             facts: Mapping[str, object]) -> str:  # fmt: skip
    prompt = (f"主题:{title}\n事实(JSON):{json.dumps(dict(facts), ensure_ascii=False)}\n"
              f"模板文字:{template}\n请改写。")  # fmt: skip
    body: dict[str, Any] = {"model": settings.llm_model, "temperature": 0.2,
            "messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": prompt}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {settings.llm_api_key.get_secret_value()}"}
    url = settings.llm_url.rstrip("/") + "/chat/completions"
    for attempt in Retrying(retry=retry_if_exception_type(LlmUnavailable)
                            & retry_if_not_exception_type(LlmRefused),
                            wait=wait_exponential(multiplier=0.5, max=8),
                            stop=stop_after_attempt(3), reraise=True):  # fmt: skip
        with attempt:
            try:
                response = requests.post(url, json=body, headers=headers, timeout=30)
            except requests.RequestException as error:
                raise LlmUnavailable(type(error).__name__) from None
            if response.status_code == 429 or response.status_code >= 500:
                raise LlmUnavailable(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise LlmRefused(f"HTTP {response.status_code}") from None
    try:
        return str(response.json()["choices"][0]["message"]["content"]).strip()
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmUnavailable("an answer without a completion") from None


def rewrite(settings: PushSettings, title: str, template: str,
            facts: Mapping[str, object]) -> str:  # fmt: skip
    """The LLM's text when configured and true to the facts; else the template's."""
    if not settings.llm_url:
        return template
    try:
        text = complete(settings, title, template, facts)
    except LlmUnavailable as error:
        log.warning("insight %s: the LLM did not answer (%s); the template's text is sent",
                    title, error)  # fmt: skip
        return template
    if not holds_to_facts(text, facts, template):
        invented = sorted(numbers(text) - numbers(template) -
                          numbers(" ".join(map(str, facts.values()))))  # fmt: skip
        log.warning("insight %s: the LLM wrote numbers that are no facts %s; the template's "
                    "text is sent", title, invented)  # fmt: skip
        return template
    return text
