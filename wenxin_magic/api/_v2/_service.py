"""What the client's pipeline needs of v2, bound to one client's credentials: where to send, the bearer token
and app id it carries and how to renew the token, and how to read what comes back (see ``_v2/_wire.py``)."""

from __future__ import annotations

from .._auth import Credentials
from .._routing import unreachable_error
from ._bearer import BearerSource
from ._codes import EXPIRED_BEARER
from ._rules import check_encodable, validate_v2_request
from ._wire import API, CHAT_PATH, V2Decoder, answer_json, read_answer, request_id_of, v2_body


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

    def body(self, target, payload: dict, params: dict, *, stream: bool, validate: bool) -> dict:
        body = v2_body(target.model, payload["messages"], params, stream=stream)
        if validate:
            validate_v2_request(body, target.spec)
        return body

    async def request(self, http, path: str | None, body: dict, content: bytes):
        """(the request, the bearer token it carries)."""
        if API not in self._credentials.apis:
            raise unreachable_error(str(body.get("model")), API)
        token = await self.bearer.get(http, self.iam_base_url)
        headers = {"Authorization": f"Bearer {token}"}
        if self._credentials.app_id:
            headers["appid"] = self._credentials.app_id
        return http.build_request("POST", self.base_url + CHAT_PATH, content=content, headers=headers), token

    def expired(self, error) -> bool:
        """Whether ``error`` says the bearer token expired and a new one can be minted."""
        return error.code == EXPIRED_BEARER and self.bearer.can_refresh

    async def renew(self, http, stale: str | None) -> None:
        await self.bearer.refresh(http, self.iam_base_url, stale=stale)
