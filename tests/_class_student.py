"""One student of tests/test_gateway_class.py, in a process of its own: the openai SDK against a gateway replica.

    python tests/_class_student.py NAME TOKEN URL,OTHER_URL DIRECTORY [--batch N] [--long-every K]

Once loaded it writes DIRECTORY/NAME.ready and waits for DIRECTORY/go, which holds START_AT and STOP_AT (epoch
seconds): the class starts together however long thirty processes take to load. From START_AT to STOP_AT it asks,
back to back, short questions and every K-th a long one ("write 3000 characters about …"), streamed with usage;
``--batch N`` runs N such loops at once (a batch of requests back to back). Every attempt is one JSON line in
DIRECTORY/NAME.jsonl: ``attempt`` (its id, also written into the question, so the emulator's log names it),
``replica``, ``began``/``ended``, ``outcome`` (``ok``, ``error``, ``unreachable``: no answer began, or
``interrupted``: the answer broke off), ``status`` and ``code`` for an error, and ``usage``.

Each question goes to the student's own replica first (the first URL; the batch's odd loops, the second). A replica
that cannot be reached gets the question asked again of the other one (the same question, a new attempt); an answer
broken off is recorded as such. An error answer (the exam switch, a spent budget) ends that question: the student
waits a moment and asks the next one.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import openai

MODEL = "ernie-speed-8k"
TOPICS = ("rivers", "bridges", "tea", "kites", "lanterns", "maps", "bells", "clouds")


def ask(client: openai.OpenAI, attempt: str, long: bool, topic: str):
    question = (f"[{attempt}] Write 3000 characters about {topic}." if long
                else f"[{attempt}] What is {len(attempt)} plus {len(topic)}?")
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                            stream=True, stream_options={"include_usage": True})
    return stream


def student_loop(args, lane: int, out, lock: threading.Lock) -> None:
    own = args.urls.split(",")
    if lane % 2:
        own.reverse()
    clients = {url: openai.OpenAI(base_url=url + "/v2", api_key=args.token, max_retries=0, timeout=120)
               for url in own}

    def record(**fields):
        with lock:
            out.write(json.dumps({"student": args.name, "lane": lane, **fields}) + "\n")
            out.flush()

    number = 0
    while time.time() < args.stop_at:
        number += 1
        long = number % args.long_every == 0
        topic = TOPICS[number % len(TOPICS)]
        urls = list(own)  # each question goes to the student's own replica first
        for retry in range(1, 1000):
            if time.time() >= args.stop_at:
                break
            attempt = f"{args.name}.{lane}.{number}.{retry}"
            replica = urls[0]
            began = time.time()
            try:
                stream = ask(clients[replica], attempt, long, topic)
            except openai.APIStatusError as exc:
                error = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else {}
                code = error.get("code") if isinstance(error, dict) else None
                record(attempt=attempt, replica=replica, began=began, ended=time.time(), outcome="error",
                       status=exc.status_code, code=code, long=long)
                time.sleep(0.5)
                break
            except openai.APIConnectionError as exc:
                record(attempt=attempt, replica=replica, began=began, ended=time.time(), outcome="unreachable",
                       detail=type(exc).__name__, long=long)
                urls.reverse()
                time.sleep(0.2)
                continue
            usage, text = None, []
            try:
                for chunk in stream:
                    if chunk.usage is not None:
                        usage = {"prompt_tokens": chunk.usage.prompt_tokens,
                                 "completion_tokens": chunk.usage.completion_tokens}
                    for choice in chunk.choices:
                        text.append(choice.delta.content or "")
            except Exception as exc:  # the replica died while it streamed
                record(attempt=attempt, replica=replica, began=began, ended=time.time(), outcome="interrupted",
                       detail=type(exc).__name__, chars=len("".join(text)), long=long)
                break
            outcome = "ok" if usage is not None else "interrupted"
            record(attempt=attempt, replica=replica, began=began, ended=time.time(), outcome=outcome, usage=usage,
                   chars=len("".join(text)), long=long)
            break


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("name", "token", "urls"):
        parser.add_argument(name)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--long-every", type=int, default=3)
    args = parser.parse_args()
    (args.directory / f"{args.name}.ready").touch()
    go = args.directory / "go"
    while not go.exists():
        time.sleep(0.05)
    args.start_at, args.stop_at = json.loads(go.read_text())
    time.sleep(max(0.0, args.start_at - time.time()))
    lock = threading.Lock()
    with open(args.directory / f"{args.name}.jsonl", "a", encoding="utf-8") as out:
        lanes = [threading.Thread(target=student_loop, args=(args, lane, out, lock)) for lane in range(args.batch)]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()


if __name__ == "__main__":
    main()
