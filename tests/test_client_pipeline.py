"""The client's one pipeline: one attempt loop for every API and stream, and the shape of the api package."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest

import wenxin_magic.api as api
from _fakes import fake_keys
from wenxin_magic.api import AuthenticationError, QianfanClient, ServerError

KEYS = fake_keys("pipeline")
HELLO = [{"role": "user", "content": "hello"}]
BASE = "http://qianfan.test"
API_DIR = Path(api.__file__).parent


# -- the package's shape ---------------------------------------------------------------------------------

def _api_modules() -> dict[str, Path]:
    modules = {}
    for path in API_DIR.rglob("*.py"):
        parts = ("wenxin_magic", *path.relative_to(API_DIR.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(module: str, path: Path, known) -> set[str]:
    """The api modules ``module`` imports anywhere in it, inside functions too."""
    found = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {name for name in found if name in known and name != module}


def test_no_api_module_imports_one_that_imports_it_back():
    modules = _api_modules()
    graph = {module: _imports(module, path, modules) for module, path in modules.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        return False

    circles = sorted((a, b) for a in graph for b in graph[a] if reaches(b, a))
    assert circles == []


def test_no_api_module_is_over_800_lines():
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in API_DIR.rglob("*.py")}
    assert max(sizes.values()) <= 800, sizes


def test_the_wire_facts_are_public_tables():
    assert api.V1_API_PREFIX == "/rpc/2.0/ai_custom/v1/wenxinworkshop" and api.V2_CHAT_PATH == "/v2/chat/completions"
    assert api.RETRYABLE_STATUSES == {500, 502, 503, 504}
    assert api.V2_ERROR_CODES["invalid_iam_token"].status == 401 and api.V2_ERROR_CODES["invalid_model"].field == "model"
    assert api.V2_ERROR_CODES["rpm_rate_limit_exceeded"].type == "rate_limit_exceeded"
    assert api.V1_ERROR_CODES[3].field == "endpoint" and api.describe_code(111) == (
        api.V1_ERROR_CODES[111].wire, api.V1_ERROR_CODES[111].hint)


# -- one attempt loop --------------------------------------------------------------------------------------

def _error(code: str) -> dict:
    return {"error": {"code": code, "message": "no", "type": "x"}, "id": "as-err"}


def _refused(status: int, code: str):
    return lambda: httpx.Response(status, json=_error(code))


def _stream(*events) -> httpx.Response:
    async def body():
        for event in events:
            yield f"data: {json.dumps(event)}\n\n".encode()
        yield b"data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


class Service:
    """An IAM token service and a v2 chat service answering chat requests from a list, the last one repeated."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.minted = 0
        self.chats = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/BCE-BEARER/token":
            self.minted += 1
            return httpx.Response(200, json={"token": f"bce-v3/ALTAK-minted/{self.minted}",
                                             "createTime": "2026-01-01T00:00:00Z",
                                             "expireTime": "2026-01-02T00:00:00Z"})
        self.chats += 1
        return (self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])()


def _client(service: Service, **options) -> QianfanClient:
    client = QianfanClient(access_key=KEYS.iak, secret_access_key=KEYS.isk, base_url=BASE, retry_backoff=0.001,
                           **options)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(service), timeout=5)
    return client


async def test_a_stream_renews_its_credential_once_whether_the_open_or_the_first_event_is_refused():
    service = Service(_refused(401, "invalid_iam_token"), lambda: _stream(_error("invalid_iam_token")))
    async with _client(service) as client:
        with pytest.raises(AuthenticationError) as caught:
            async for _ in client.stream_chat("ernie-speed-8k", HELLO):
                pass
    assert caught.value.code == "invalid_iam_token"
    assert (service.minted, service.chats) == (2, 2)


async def test_a_stream_shares_its_retries_between_refused_opens_and_failed_first_events():
    service = Service(_refused(503, "internal_error"), lambda: _stream(_error("internal_error")),
                      _refused(503, "internal_error"))
    async with _client(service, max_retries=2) as client:
        with pytest.raises(ServerError) as caught:
            async for _ in client.stream_chat("ernie-speed-8k", HELLO):
                pass
    assert caught.value.retries == 2 and service.chats == 3
