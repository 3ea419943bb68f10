"""What the client's pipeline needs of v1, bound to one client's credentials: where to send, how to sign or
carry the access token and renew it, and how to read what comes back (see ``_v1/_wire.py``)."""

from __future__ import annotations

from .._auth import Credentials, Signer
from .._http import RedactedRequest
from ._codes import TOKEN_CODES
from ._rules import check_encodable, validate_request
from ._tokens import TokenSource
from .._controls import split_controls, v1_control_notes
from ._wire import API, API_PREFIX, V1Decoder, answer_json, read_answer, request_id_of, v1_body


class V1Service:
    api = API
    honours_retry_after = False  # v1 says how long to wait in words, not in a header
    decoder = V1Decoder
    answer_json = staticmethod(answer_json)
    read_answer = staticmethod(read_answer)
    request_id = staticmethod(request_id_of)
    check_encodable = staticmethod(check_encodable)

    def __init__(self, credentials: Credentials, base_url: str):
        self.base_url = base_url
        self.tokens = TokenSource(credentials)
        self._signer = Signer(credentials) if credentials.method == "iam" else None

    @property
    def credential(self) -> str | None:
        """The token in use, which an answer may echo."""
        return self.tokens.current

    def body(self, target, payload: dict, params: dict, *, stream: bool, validate: bool) -> tuple[dict, tuple]:
        """(the body, notes): v2's reasoning controls are not sent to a v1 model, and a note says so."""
        controls, params = split_controls(params)
        if target.as_chat:
            payload = {"messages": [{"role": "user", "content": payload["prompt"]}]}
        body = v1_body(payload, params)
        if validate:
            validate_request(target.spec, body)
        body["stream"] = stream
        return body, tuple(v1_control_notes(controls, target.model))

    @staticmethod
    def explain(error, body):
        return error

    async def request(self, http, path: str, body: dict, content: bytes):
        """(the request, the access token it carries or None when signed)."""
        url = f"{self.base_url}{API_PREFIX}/{path}"
        if self._signer is not None:
            headers = self._signer.headers("POST", url, {"Content-Type": "application/json"})
            return http.build_request("POST", url, content=content, headers=headers), None
        token = await self.tokens.get(http, self.base_url)
        request = http.build_request("POST", url, params={"access_token": token}, content=content)
        request.__class__ = RedactedRequest
        return request, token

    def expired(self, error) -> bool:
        """Whether ``error`` says the access token expired and a new one can be fetched."""
        return error.code in TOKEN_CODES and self.tokens.can_refresh

    async def renew(self, http, stale: str | None) -> None:
        await self.tokens.refresh(http, self.base_url, stale=stale)
