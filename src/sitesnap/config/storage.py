"""A configured repository's storage options, as the storage backend takes them.

The one translation from ``[repositories.<kind>]`` tables to the options a
backend's ``from_url`` accepts; secrets are resolved here, at open time,
never when the configuration is loaded.
"""

from __future__ import annotations

from typing import Any

from sitesnap.config.schema import RepositoryConfig
from sitesnap.secrets import resolve

__all__ = ["storage_options"]


def storage_options(repo_cfg: RepositoryConfig) -> dict[str, Any]:
    """The backend options of ``repo_cfg`` (secrets resolved), without the wrapper options."""
    options: dict[str, Any] = {}
    where = f"repositories.{repo_cfg.name}"
    if repo_cfg.s3 is not None:
        s3 = repo_cfg.s3
        options["preset"] = s3.preset
        if s3.endpoint:
            options["endpoint"] = s3.endpoint
        if s3.region:
            options["region"] = s3.region
        if s3.addressing_style != "auto":
            options["addressing"] = s3.addressing_style
        if s3.access_key_id is not None:
            options["access_key_id"] = resolve(s3.access_key_id, what=f"{where}.s3.access_key_id")
        if s3.secret_access_key is not None:
            options["secret_access_key"] = resolve(s3.secret_access_key, what=f"{where}.s3.secret_access_key")
        if s3.object_lock is not None:
            options["object_lock_mode"] = s3.object_lock.mode
            options["object_lock_days"] = s3.object_lock.days
        if s3.endpoint and s3.endpoint.startswith("http://"):
            options["allow_http"] = True
    if repo_cfg.sftp is not None:
        sftp = repo_cfg.sftp
        if sftp.key_file is not None:
            options["key_file"] = str(sftp.key_file)
        if sftp.password is not None:
            options["password"] = resolve(sftp.password, what=f"{where}.sftp.password")
        if sftp.known_hosts is not None:
            options["known_hosts"] = str(sftp.known_hosts)
    return options
