"""Request and response bodies of the users API (admin only): users and their tokens.

Kept apart from :mod:`sitesnap.web.schemas` (the backup API's bodies) so each
module stays one page; the OpenAPI spec is built from both.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sitesnap.web.schemas import Role, _In

__all__ = ["TokenOut", "UserIn", "UserOut", "UserPatchIn"]


class UserIn(_In):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$",
                      description="no slash or white space: the name is part of the user's URL")
    role: Role
    password: str = Field(min_length=8, max_length=1000, description="at least 8 characters; hashed with Argon2id")


class UserPatchIn(_In):
    role: Role | None = Field(None, description="the new role; the user's sessions end")
    password: str | None = Field(None, min_length=8, max_length=1000,
                                 description="a new password; the user's sessions end")


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    active: bool
    created_at: datetime
    last_login: datetime | None


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="the first characters of the token, to recognise it")
    created_by: str
    created_at: datetime
    last_used: datetime | None
    revoked: bool
