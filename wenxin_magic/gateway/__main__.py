"""``wenxin-gateway`` (``python -m wenxin_magic.gateway``): serve a class, hand out tokens, pause, report.

    wenxin-gateway --config class.toml [--host 127.0.0.1] [--port 0]    serve; the first stdout line is the URL
    wenxin-gateway tokens roster.csv                                     new tokens for names without one
    wenxin-gateway pause --config class.toml [--group G] [--url URL]     the exam switch, on the running gateway
    wenxin-gateway resume --config class.toml [--group G] [--url URL]
    wenxin-gateway report --config class.toml [--since 7d] [--format csv|table]
"""

from __future__ import annotations

import argparse
import os
import sys

from ._config import ConfigError, load_config
from ._tokens import RosterError

COMMANDS = ("serve", "tokens", "pause", "resume", "report")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wenxin-gateway", description="A classroom gateway for Qianfan v2: "
                                     "students use their own tokens; the teacher's key stays here.")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the class (the default command)")
    serve.add_argument("--config", required=True, help="the class's TOML file")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for a hub)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    tokens = commands.add_parser("tokens", help="give a token to every student of the roster without one")
    tokens.add_argument("roster", help="the roster CSV: name,token[,group]")
    for name, verb in (("pause", "pause"), ("resume", "resume")):
        switch = commands.add_parser(name, help=f"{verb} the class, or one group, on the running gateway")
        switch.add_argument("--config", required=True, help="the class's TOML file")
        switch.add_argument("--group", default=None, help="only this group of the roster")
        switch.add_argument("--url", default=None, help="the running gateway's base URL (default: [admin] url)")
    report = commands.add_parser("report", help="print the ledger: per student, model and day")
    report.add_argument("--config", required=True, help="the class's TOML file")
    report.add_argument("--since", default=None, help="7d (the last seven days) or a first day, 2026-09-01")
    report.add_argument("--format", choices=("csv", "table"), default="table", help="csv or table (default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "serve")
    args = _parser().parse_args(argv)
    try:
        return {"serve": _serve, "tokens": _tokens, "pause": _switch, "resume": _switch,
                "report": _report}[args.command](args)
    except (ConfigError, RosterError, ValueError) as exc:
        print(f"wenxin-gateway: {exc}", file=sys.stderr)
        return 2


def _serve(args) -> int:
    import asyncio

    from ._runner import base_url_of, bind, make_gateway, make_server

    gateway = make_gateway(load_config(args.config))
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"wenxin-gateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(base_url_of(sock), flush=True)
    server = make_server(gateway, sock)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    return 0


def _tokens(args) -> int:
    from ._tokens import fill_tokens

    issued = fill_tokens(args.roster)
    if issued:
        print("name,token")
        for name, token in issued:
            print(f"{name},{token}")
        print(f"wenxin-gateway: {len(issued)} new token(s); the roster keeps only their hashes, so hand these out "
              "now (this is the only time they are shown).", file=sys.stderr)
    else:
        print("wenxin-gateway: every student of the roster already has a token.", file=sys.stderr)
    return 0


def _switch(args) -> int:
    import httpx

    config = load_config(args.config)
    url = args.url or config.admin_url
    if not url:
        raise ValueError("Give the running gateway's URL: --url http://HOST:PORT, or [admin] url in the config.")
    token = os.environ.get(config.admin_token_env)
    if not token:
        raise ValueError(f"Set the admin token in {config.admin_token_env} ([admin] token_env), as where the "
                         "gateway runs.")
    body = {"group": args.group} if args.group else {}
    try:
        answer = httpx.post(url.rstrip("/") + f"/admin/{args.command}", json=body,
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    except httpx.HTTPError as exc:
        print(f"wenxin-gateway: cannot reach the gateway at {url}: {type(exc).__name__}", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        message = answer.json().get("error", {}).get("message", answer.text) if answer.content else answer.text
        print(f"wenxin-gateway: the gateway refused: {message}", file=sys.stderr)
        return 1
    who = f"group {args.group}" if args.group else "the class"
    print(f"{who}: {'paused' if args.command == 'pause' else 'resumed'}")
    return 0


def _report(args) -> int:
    from ._report import format_rows, ledger_rows

    sys.stdout.write(format_rows(ledger_rows(load_config(args.config), args.since), args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
