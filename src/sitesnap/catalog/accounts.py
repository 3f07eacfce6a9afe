"""Users and API tokens of the web API, stored in the catalog database.

Passwords are hashed with Argon2id (argon2-cffi; parameters live in the
hash, so they can be raised later and old hashes still verify).  API tokens
are 256-bit random strings shown once; only their SHA-256 is stored — a
fast hash is enough for a secret that cannot be guessed, and it lets a
token be found by one indexed lookup.

:class:`Accounts` is thread-safe like :class:`~sitesnap.catalog.Catalog`:
every call opens its own short session and returns frozen dataclasses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from sitesnap.catalog.database import BEGIN_OPTION
from sitesnap.catalog.models import ApiToken, User
from sitesnap.catalog.views import _View, from_row
from sitesnap.errors import RecordNotFound, UsageError
from sitesnap.format.passhash import InvalidHashError, PasswordHasher, VerificationError, VerifyMismatchError

__all__ = ["ROLES", "Accounts", "TokenInfo", "UserInfo", "role_at_least"]

ROLES = ("viewer", "operator", "admin")
TOKEN_PREFIX = "ssn_"
MIN_PASSWORD = 8


def role_at_least(role: str, needed: str) -> bool:
    """True when ``role`` grants what ``needed`` requires (admin > operator > viewer)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}", hint=f"Use one of: {', '.join(ROLES)}.")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UserInfo(_View):
    id: int
    name: str
    role: str
    active: bool
    created_at: datetime
    last_login: datetime | None
    session_nonce: str

    def to_dict(self) -> dict[str, object]:
        """Public fields only: the session nonce stays on the server."""
        out = super().to_dict()
        out.pop("session_nonce", None)
        return out


@dataclass(frozen=True)
class TokenInfo(_View):
    id: int
    name: str
    role: str
    prefix: str
    created_by: str
    created_at: datetime
    last_used: datetime | None
    revoked: bool


class Accounts:
    """Create, verify and list users and tokens in the catalog at ``engine``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None,
                 hasher: PasswordHasher | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._clock = clock or (lambda: datetime.now(UTC))
        self._hasher = hasher or PasswordHasher()
        # A hash of a random password, verified when the user does not exist,
        # so a login takes as long for unknown names as for wrong passwords.
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    # --- users --------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str) -> UserInfo:
        """Create a user; UsageError if the name is taken, the role unknown or the password short."""
        _check_role(role)
        name = name.strip()
        if not name or len(name) > 200:
            raise UsageError("a user name needs 1 to 200 characters")
        if len(password) < MIN_PASSWORD:
            raise UsageError(f"the password needs at least {MIN_PASSWORD} characters")
        user = User(name=name, role=role, password_hash=self._hasher.hash(password),
                    session_nonce=secrets.token_hex(16), active=True, created_at=self._clock())
        try:
            with self._write() as session:
                session.add(user)
        except DBIntegrityError:
            raise UsageError(f"user {name!r} already exists") from None
        return from_row(UserInfo, user)

    def get_user(self, name: str) -> UserInfo | None:
        with self._read() as session:
            row = session.scalar(select(User).where(User.name == name))
            return None if row is None else from_row(UserInfo, row)

    def get_user_by_id(self, user_id: int) -> UserInfo | None:
        with self._read() as session:
            row = session.get(User, user_id)
            return None if row is None else from_row(UserInfo, row)

    def list_users(self) -> list[UserInfo]:
        with self._read() as session:
            return [from_row(UserInfo, r) for r in session.scalars(select(User).order_by(User.name))]

    def verify_password(self, name: str, password: str) -> UserInfo | None:
        """The active user if ``password`` is right, else None; constant work either way."""
        with self._read() as session:
            row = session.scalar(select(User).where(User.name == name))
            stored = row.password_hash if row is not None and row.active else self._dummy
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or not row.active:
            return None
        with self._write() as session:
            user = session.get(User, row.id)
            if user is None:
                return None
            user.last_login = self._clock()
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
        return from_row(UserInfo, user)

    def set_password(self, name: str, password: str) -> None:
        """Change a password; every session of the user ends."""
        if len(password) < MIN_PASSWORD:
            raise UsageError(f"the password needs at least {MIN_PASSWORD} characters")
        with self._write() as session:
            user = self._user_row(session, name)
            user.password_hash = self._hasher.hash(password)
            user.session_nonce = secrets.token_hex(16)

    def set_role(self, name: str, role: str) -> UserInfo:
        _check_role(role)
        with self._write() as session:
            user = self._user_row(session, name)
            user.role = role
            user.session_nonce = secrets.token_hex(16)
        return from_row(UserInfo, user)

    def end_sessions(self, user_id: int) -> None:
        """Invalidate every session cookie of the user (logout)."""
        with self._write() as session:
            user = session.get(User, user_id)
            if user is not None:
                user.session_nonce = secrets.token_hex(16)

    def delete_user(self, name: str) -> None:
        with self._write() as session:
            session.delete(self._user_row(session, name))

    def keep_an_admin(self, name: str) -> None:
        """Refuse (UsageError) to demote or remove ``name`` when it is the only admin.

        Without an admin nobody could manage users, keys or the configuration
        from the console; the CLI and the API both ask before such a change.
        """
        admins = [u.name for u in self.list_users() if u.role == "admin"]
        if admins == [name]:
            raise UsageError(f"{name} is the only admin",
                             hint="Make another user an admin first ('sitesnap user role OTHER --role admin', "
                                  "or the console's Users page).")

    @staticmethod
    def _user_row(session: Session, name: str) -> User:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise RecordNotFound(f"user {name}")
        return user

    # --- tokens ------------------------------------------------------------------

    def create_token(self, role: str, *, name: str = "", created_by: str = "") -> tuple[TokenInfo, str]:
        """A new token: (its record, the token itself — shown once, never stored)."""
        _check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(name=name, role=role, token_hash=_token_hash(token), prefix=token[:10],
                       created_by=created_by, created_at=self._clock(), revoked=False)
        with self._write() as session:
            session.add(row)
        return from_row(TokenInfo, row), token

    def authenticate_token(self, token: str) -> TokenInfo | None:
        """The live token matching ``token``, with ``last_used`` updated; None otherwise."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _token_hash(token)
        with self._write() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
            if row is None or row.revoked or not hmac.compare_digest(row.token_hash, digest):
                return None
            row.last_used = self._clock()
        return from_row(TokenInfo, row)

    def list_tokens(self) -> list[TokenInfo]:
        with self._read() as session:
            rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))
            return [from_row(TokenInfo, r) for r in rows]

    def revoke_token(self, token_id: int) -> TokenInfo:
        with self._write() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise RecordNotFound(f"token {token_id}")
            row.revoked = True
        return from_row(TokenInfo, row)
