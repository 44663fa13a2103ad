"""An LLM may reword an insight, never its numbers: against a local OpenAI-compatible
endpoint (bearer key and model checked), a text with only the facts' numbers is used, one
with an invented number or an endpoint that fails gives the template's text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from common.settings import PushSettings
from dashboards.pushes.llm import holds_to_facts, rewrite

pytestmark = pytest.mark.integration

KEY, MODEL = "sk-test-key", "qwen-test"
FACTS = {"top1_name": "南岸 连衣裙", "top1_amount": "22.03 万元", "top1_share": "12.3%",
         "top_share": "29.9%", "days": 7}  # fmt: skip
TEMPLATE = "近 7 天销售额最高的是南岸 连衣裙,22.03 万元,占全部 12.3%;前 10 名合计占 29.9%。"


class Completions:
    """Answers ``/v1/chat/completions`` with ``reply`` (or ``status``), as OpenAI does."""

    def __init__(self) -> None:
        self.reply, self.status, self.asked = "", 200, []  # type: ignore[var-annotated]
        completions = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                completions.asked.append(body)
                status, answer = completions.answer(self.path, self.headers, body)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, headers: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": "not found"}}
        if headers.get("Authorization") != f"Bearer {KEY}":
            return 401, {"error": {"message": "Incorrect API key provided", "code": 401}}
        if body.get("model") != MODEL or not body.get("messages"):
            return 400, {"error": {"message": "invalid request"}}
        if self.status != 200:
            return self.status, {"error": {"message": "overloaded"}}
        message = {"role": "assistant", "content": self.reply}
        return 200, {"choices": [{"index": 0, "finish_reason": "stop", "message": message}]}

    @property
    def settings(self) -> PushSettings:
        return PushSettings(llm_url=f"http://127.0.0.1:{self.server.server_address[1]}/v1",
                            llm_model=MODEL, llm_api_key=SecretStr(KEY))  # fmt: skip


@pytest.fixture
def llm() -> Iterator[Completions]:
    completions = Completions()
    yield completions
    completions.server.shutdown()
    completions.server.server_close()


def test_a_rewrite_that_keeps_to_the_facts_is_used(llm: Completions) -> None:
    llm.reply = "上周卖得最好的是南岸 连衣裙:22.03 万元,一款就占了 12.3% 的销售额。"
    assert rewrite(llm.settings, "畅销商品", TEMPLATE, FACTS) == llm.reply
    (asked,) = llm.asked
    assert "22.03 万元" in asked["messages"][-1]["content"]


def test_an_invented_number_sends_the_template_instead(llm: Completions) -> None:
    llm.reply = "南岸 连衣裙卖了 22.03 万元,比上周增长 18%。"  # 18 % is nowhere in the facts
    assert rewrite(llm.settings, "畅销商品", TEMPLATE, FACTS) == TEMPLATE


def test_an_endpoint_that_fails_or_refuses_sends_the_template(llm: Completions) -> None:
    llm.status = 503
    assert rewrite(llm.settings, "畅销商品", TEMPLATE, FACTS) == TEMPLATE
    assert len(llm.asked) == 3  # retried, then given up
    wrong_key = llm.settings.model_copy(update={"llm_api_key": SecretStr("sk-wrong")})
    assert rewrite(wrong_key, "畅销商品", TEMPLATE, FACTS) == TEMPLATE
    assert len(llm.asked) == 4  # a refused key is not retried


def test_numbers_are_compared_as_written() -> None:
    assert holds_to_facts("共 1,604 个 SKU", {"selling": 1604}, "")
    assert not holds_to_facts("共 1,605 个 SKU", {"selling": 1604}, "")
    assert not holds_to_facts("", FACTS, TEMPLATE)
