"""``python -m wenxin_magic.emulator``: serve the emulator until Ctrl-C / SIGTERM.

The first line on stdout is the base URL, e.g. ``http://127.0.0.1:8866``.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wenxin-emulator",
                                     description="A local Baidu Qianfan (ERNIE) emulator, v1 and v2, loopback only.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before a stream's first chunk")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    parser.add_argument("--rpm", type=int, default=300, help="requests per minute per credential and endpoint")
    parser.add_argument("--tpm", type=int, default=300000, help="tokens per minute per credential and endpoint")
    parser.add_argument("--strict-endpoints", action="store_true", help="answer error 3 for unknown endpoints")
    parser.add_argument("--answer-chars", type=int, default=None, help="force every answer to this many characters")
    parser.add_argument("--v2-key", action="append", default=None, metavar="KEY",
                        help="accept only this v2 API key (bce-v3/ALTAK-…/…); repeat for several "
                             "(default: any well-formed key)")
    parser.add_argument("--model", action="append", default=None, metavar="ID",
                        help="also serve this v2 model id beside the catalog's; repeat for several "
                             "(any other id gets 401 invalid_model, as on the service)")
    parser.add_argument("--lesson", default=None, metavar="PATH",
                        help="answer the questions this lesson file holds as recorded (see %%wenxin lesson save)")
    parser.add_argument("--lesson-speed", type=float, default=1.0, metavar="X",
                        help="replay a lesson at X times the recorded pace's delays (1 as recorded, 0 at once)")
    args = parser.parse_args(argv)

    from . import LOOPBACK_HOSTS, bind, make_server

    if args.host not in LOOPBACK_HOSTS:
        print(f"wenxin-emulator: refusing to listen on {args.host!r}: the emulator accepts any credentials and "
              "serves only this machine; use a loopback address (127.0.0.1, localhost or ::1).", file=sys.stderr)
        return 2
    from ._app import build_app
    from ._lesson import Lesson, LessonError
    from ._state import EmulatorState

    try:
        lesson = Lesson.load(args.lesson) if args.lesson else None
    except LessonError as err:
        print(f"wenxin-emulator: {err}", file=sys.stderr)
        return 2
    if args.lesson_speed < 0:
        print("wenxin-emulator: --lesson-speed must be 0 or more (1 as recorded, 0 at once).", file=sys.stderr)
        return 2

    state = EmulatorState(ttft=args.ttft, chunk_delay=args.chunk_delay, rpm=args.rpm, tpm=args.tpm,
                          strict_endpoints=args.strict_endpoints, answer_chars=args.answer_chars, v2_keys=args.v2_key,
                          models=args.model, lesson=lesson, lesson_speed=args.lesson_speed)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"wenxin-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(url, flush=True)
    print(f"Qianfan emulator serving on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    server = make_server(build_app(state), sock)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
