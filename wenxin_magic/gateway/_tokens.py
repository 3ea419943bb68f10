"""Students and their tokens: the roster CSV ``name,token[,group]``.

A token in the roster is either a hash written by ``fill_tokens`` (``sha256$<salt>$<hex>``, a salt per token) or
a plain token the teacher chose; either way the gateway keeps only hashes in memory, and ``fill_tokens`` writes
only hashes to the file. The plain tokens of new students are returned once, for the teacher to hand out.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

HASH_PREFIX = "sha256$"
TOKEN_PREFIX = "wgs-"


class RosterError(ValueError):
    """The roster is missing or malformed."""


@dataclass(frozen=True)
class Student:
    name: str
    group: str | None
    token_hash: str


def hash_token(token: str, salt: str | None = None) -> str:
    salt = salt if salt is not None else secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}${token}".encode()).hexdigest()
    return f"{HASH_PREFIX}{salt}${digest}"


def token_matches(token: str, stored_hash: str) -> bool:
    _, salt, _ = stored_hash.split("$", 2)
    return hmac.compare_digest(hash_token(token, salt), stored_hash)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f) if any(c.strip() for c in row)]
    except FileNotFoundError:
        raise RosterError(f"No roster at {path}: write one line per student, name,token[,group].") from None
    if rows and rows[0][:2] == ["name", "token"]:
        rows = rows[1:]
    for number, row in enumerate(rows, 1):
        if not row[0] or len(row) > 3:
            raise RosterError(f"{path}, student {number}: a line is name,token[,group], not {','.join(row)!r}.")
    return rows


def read_roster(path: str | Path) -> list[Student]:
    """The students of the roster, with their tokens hashed; a student with no token yet cannot sign in."""
    path = Path(path)
    students, seen = [], set()
    for row in _rows(path):
        name, token = row[0], row[1] if len(row) > 1 else ""
        if name in seen:
            raise RosterError(f"{path}: the name {name!r} appears twice; names must be unique.")
        seen.add(name)
        if not token:
            continue
        stored = token if token.startswith(HASH_PREFIX) else hash_token(token)
        students.append(Student(name, (row[2] if len(row) > 2 else "") or None, stored))
    return students


def find_student(students: list[Student], token: str) -> Student | None:
    """The student whose token this is (every hash compared, in constant time each), or None."""
    found = None
    for student in students:
        if token_matches(token, student.token_hash):
            found = student
    return found


def fill_tokens(path: str | Path) -> list[tuple[str, str]]:
    """Give every student of the roster without a token a new one: the file gets its hash, and the plain tokens
    are returned as (name, token), the only time they are shown."""
    path = Path(path)
    rows = _rows(path)
    issued = []
    for row in rows:
        while len(row) < 2:
            row.append("")
        if not row[1]:
            token = new_token()
            row[1] = hash_token(token)
            issued.append((row[0], token))
    if issued:
        temporary = path.with_suffix(path.suffix + ".tmp")
        with open(temporary, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["name", "token", "group"])
            writer.writerows(row + [""] * (3 - len(row)) for row in rows)
        os.replace(temporary, path)
    return issued
