"""What the client's pipeline needs of v2, bound to one client's credentials: where to send, the bearer token
and app id it carries and how to renew the token, and how to read what comes back (see ``_v2/_wire.py``)."""

from __future__ import annotations

from .._auth import Credentials
from .._routing import unreachable_error
from ._bearer import BearerSource
from .._errors import QianfanError
from ._codes import EXPIRED_BEARER
from .._controls import split_controls
from ._reasoning import reasoning_params, request_notes
from ._rules import INVALID_MODEL, check_encodable, validate_v2_request
from ._wire import API, CHAT_PATH, MODELS_PATH, V2Decoder, answer_json, read_answer, request_id_of, v2_body


class V2Service:
    api = API
    honours_retry_after = True
    decoder = V2Decoder
    answer_json = staticmethod(answer_json)
    read_answer = staticmethod(read_answer)
    request_id = staticmethod(request_id_of)
    check_encodable = staticmethod(check_encodable)

    def __init__(self, credentials: Credentials, base_url: str, iam_base_url: str):
        self.base_url = base_url
        self.iam_base_url = iam_base_url
        self.bearer = BearerSource(credentials)
        self._credentials = credentials

    @property
    def credential(self) -> str | None:
        """The bearer token in use, which an answer may echo."""
        return self.bearer.current

    def body(self, target, payload: dict, params: dict, *, stream: bool, validate: bool) -> tuple[dict, tuple]:
        """(the body, notes on how it was sent): reasoning controls mapped for the model; the fields given as they
        are (a field given wins over a control's mapping)."""
        controls, params = split_controls(params)
        spec = target.spec
        mapped, notes = reasoning_params(spec if spec is not None and spec.id else target.model, **controls)
        body = v2_body(target.model, payload["messages"], {**mapped, **params} if mapped else params, stream=stream)
        if validate:
            validate_v2_request(body, spec)
        if spec is not None:
            notes += request_notes(body, spec)
        return body, tuple(notes)

    @staticmethod
    def explain(error: QianfanError, body: dict | None) -> QianfanError:
        """An ``invalid_model`` refusal names the model asked for (the service's text does not)."""
        model = body.get("model") if isinstance(body, dict) else None
        if error.code == INVALID_MODEL and isinstance(model, str):
            error.wire_message = getattr(error, "wire_message", error.message)
            error.message = (f"The model {model!r} does not exist or this key cannot use it (the service said: "
                             f"{error.wire_message})")
            error.model, error.field = model, "model"
        return error

    async def request(self, http, path: str | None, body: dict | None, content: bytes | None):
        """(the request, the bearer token it carries): a chat (POST), or a GET of ``path`` when there is no body."""
        if API not in self._credentials.apis:
            raise unreachable_error(str(body.get("model")) if body else "GET /v2/models", API)
        token = await self.bearer.get(http, self.iam_base_url)
        headers = {"Authorization": f"Bearer {token}"}
        if self._credentials.app_id:
            headers["appid"] = self._credentials.app_id
        if body is None:
            return http.build_request("GET", self.base_url + (path or MODELS_PATH), headers=headers), token
        return http.build_request("POST", self.base_url + CHAT_PATH, content=content, headers=headers), token

    def expired(self, error) -> bool:
        """Whether ``error`` says the bearer token expired and a new one can be minted."""
        return error.code == EXPIRED_BEARER and self.bearer.can_refresh

    async def renew(self, http, stale: str | None) -> None:
        await self.bearer.refresh(http, self.iam_base_url, stale=stale)
