"""Where answers come from: the Qianfan service with the user's credentials, or the built-in emulator."""

from __future__ import annotations

import os

from ..api import V1_BASE_URL, Credentials, InvalidRequestError

NO_CREDENTIALS = "no-credentials"
# The emulator accepts any key pair and any well-formed v2 key. These name no real credential, and no answer says
# them: the client masks its credentials in every answer, so a plain word such as "offline" would vanish from text.
OFFLINE_KEYS = ("wenxin-offline-ak-7f3e", "wenxin-offline-sk-7f3e")
OFFLINE_V2_KEY = "bce-v3/ALTAK-wenxinOffline7f3e/placeholder7f3e"

# Client options a backend passes on to QianfanClient; anything else is a typo.
CLIENT_OPTIONS = frozenset({"timeout", "max_retries", "retry_backoff", "retry_max_wait", "retry_total_timeout",
                            "max_connections", "validate"})


class Backend:
    """The connection: credentials, the client, the emulator, and which of the two answers.

    Nothing starts until asked: ``connect()`` creates the client, ``start_emulator()``
    the emulator. ``client`` and ``emulator`` are the ones running, or None.
    """

    def __init__(self, runner, *, offline: bool | None = None, client_options: dict | None = None,
                 emulator_options: dict | None = None, environ=os.environ):
        self._runner = runner
        self._credentials = Credentials.from_env(environ)
        self._base_url: str | None = environ.get("QIANFAN_BASE_URL")
        self._client_options = dict(client_options or {})
        self.emulator_options = {"ttft": 0.2, "chunk_delay": 0.03, "lesson": None, "lesson_speed": 1.0,
                                 **(emulator_options or {})}
        self.offline = (not self.has_credentials) if offline is None else offline
        self.offline_by_default = self.offline and offline is None
        self._client = None
        self._emulator = None

    # -- what it is ----------------------------------------------------------------------
    @property
    def has_credentials(self) -> bool:
        return self._credentials.method != "none"

    @property
    def apis(self) -> frozenset[str]:
        """The Qianfan APIs the credentials reach ("v1", "v2"); the emulator serves both."""
        if self.offline:
            return frozenset({"v1", "v2"})
        return self._credentials.apis

    @property
    def mode(self) -> str:
        return "offline" if self.offline else "online"

    @property
    def auth_method(self) -> str:
        """'emulator' offline; online 'oauth', 'token', 'iam' or 'none'."""
        return "emulator" if self.offline else self._credentials.method

    @property
    def base_url(self) -> str | None:
        """The service address set by QIANFAN_BASE_URL or ``reconfigure``; None means the default."""
        return self._base_url

    @property
    def service_url(self) -> str:
        return self._base_url or V1_BASE_URL

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential value, for redaction; never shown."""
        return self._credentials.secrets

    @property
    def client_options(self) -> dict:
        return dict(self._client_options)

    def credential_status(self) -> list[tuple[str, bool, str]]:
        """(what the credential is called, whether it is set, what it reaches): safe to show, values hidden."""
        c = self._credentials
        return [
            ("QIANFAN_API_KEY / v2 API Key", bool(c.bearer_token), "v2"),
            ("QIANFAN_APP_ID", bool(c.app_id), "v2 (sent as the appid header)"),
            ("QIANFAN_AK / API Key", bool(c.api_key), "v1 (with the Secret Key)"),
            ("QIANFAN_SK / Secret Key", bool(c.secret_key), "v1 (with the API Key)"),
            ("QIANFAN_ACCESS_KEY", bool(c.access_key), "v1 and v2 (IAM, with the Secret Key)"),
            ("QIANFAN_SECRET_KEY", bool(c.secret_access_key), "v1 and v2 (IAM, with the Access Key)"),
            ("QIANFAN_ACCESS_TOKEN", bool(c.access_token), "v1"),
        ]

    def __repr__(self) -> str:
        return f"Backend(mode={self.mode!r}, auth={self.auth_method!r})"

    # -- changing it ---------------------------------------------------------------------
    def reconfigure(self, *, credentials: Credentials | None = None, base_url: str | None = None, **options) -> bool:
        """Change credentials, the service address or client options; True if anything changed.

        The next request then gets a new client; turns already running keep theirs.
        """
        unknown = set(options) - CLIENT_OPTIONS
        if unknown:
            raise InvalidRequestError(f"Unknown client option(s) {', '.join(sorted(unknown))}.", field="options",
                                      allowed=", ".join(sorted(CLIENT_OPTIONS)))
        changed = {k: v for k, v in options.items() if self._client_options.get(k, _UNSET) != v}
        self._client_options.update(changed)
        if base_url is not None and base_url != self._base_url:
            self._base_url, changed["base_url"] = base_url, base_url
        if credentials is not None:
            self._credentials, changed["credentials"] = credentials, True
        if changed:
            self.drop_client()
        return bool(changed)

    def login(self, api_key: str | None = None, secret_key: str | None = None, *, v2_key: str | None = None) -> str:
        """Use a v2 API Key, or an application's v1 keys (kept in memory only), and go online."""
        if v2_key and v2_key.strip():
            credentials = Credentials(bearer_token=v2_key.strip())
        elif api_key and secret_key and api_key.strip() and secret_key.strip():
            credentials = Credentials(api_key.strip(), secret_key.strip())
        else:
            raise InvalidRequestError("Give a v2 API Key (bce-v3/…), or both the API Key and the Secret Key of an "
                                      "application.", field="credentials")
        self.reconfigure(credentials=credentials)
        return self.go_online()

    def go_online(self) -> str:
        if not self.has_credentials:
            raise InvalidRequestError(
                "No credentials to go online with: set QIANFAN_API_KEY (a v2 API Key), QIANFAN_AK and QIANFAN_SK "
                "(an application's v1 keys) or QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY (IAM keys) in the "
                "environment, or call login().", field="credentials")
        self.offline = False
        self.drop_client()
        apis = " and ".join(sorted(self.apis))
        return f"Online: answers come from Qianfan's {apis} API ({self.auth_method} auth)."

    def go_offline(self) -> str:
        self.offline = True
        self.drop_client()
        return "Offline: answers come from the built-in emulator."

    # -- the running parts ---------------------------------------------------------------
    @property
    def client(self):
        """The client in use, or None before ``connect()``."""
        return self._client

    @property
    def emulator(self):
        """The emulator running, or None before ``start_emulator()``."""
        return self._emulator

    def connect(self):
        """The client for the current mode, created on first call."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self):
        from ..api import QianfanClient

        if self.offline:
            return QianfanClient(*OFFLINE_KEYS, bearer_token=OFFLINE_V2_KEY,
                                 base_url=self.start_emulator().base_url, **self._client_options)
        c = self._credentials
        return QianfanClient(c.api_key, c.secret_key, access_key=c.access_key, secret_access_key=c.secret_access_key,
                             access_token=c.access_token, bearer_token=c.bearer_token, app_id=c.app_id,
                             base_url=self._base_url, **self._client_options)

    def start_emulator(self):
        """The built-in emulator, started on first call."""
        if self._emulator is None:
            from ..emulator import Emulator

            emulator = Emulator(**self.emulator_options)
            emulator.start()
            self._emulator = emulator
        return self._emulator

    @property
    def lesson(self):
        """The lesson the emulator answers from (a ``wenxin_magic.emulator.Lesson``), or None."""
        return self.emulator_options["lesson"]

    @lesson.setter
    def lesson(self, lesson) -> None:
        self.emulator_options["lesson"] = lesson
        if self._emulator is not None:
            self._emulator.lesson = lesson

    @property
    def lesson_speed(self) -> float:
        return self.emulator_options["lesson_speed"]

    @lesson_speed.setter
    def lesson_speed(self, speed: float) -> None:
        self.emulator_options["lesson_speed"] = speed
        if self._emulator is not None:
            self._emulator.lesson_speed = speed

    def drop_client(self) -> None:
        """Forget the client; its pooled sockets are closed before the next client opens its own."""
        client, self._client = self._client, None
        if client is not None:
            self._runner.finish(client.aclose())

    def close(self) -> None:
        self.drop_client()
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None


_UNSET = object()
