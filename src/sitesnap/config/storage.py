"""A configured repository's storage options, as the storage backend takes them.

The one translation from ``[repositories.s3]``, ``[repositories.sftp]`` and,
for backends of installed packages, ``[repositories.options]`` to the
options a backend's ``from_url`` accepts; secrets are resolved here, at open
time, never when the configuration is loaded.
"""

from __future__ import annotations

from typing import Any

from sitesnap.config.schema import RepositoryConfig
from sitesnap.secrets import SecretRef, resolve

__all__ = ["storage_options"]


def storage_options(repo_cfg: RepositoryConfig) -> dict[str, Any]:
    """The backend options of ``repo_cfg`` (secrets resolved), without the wrapper options."""
    where = f"repositories.{repo_cfg.name}"
    options: dict[str, Any] = dict(repo_cfg.options or {})
    if repo_cfg.s3 is not None:
        options.update(repo_cfg.s3.backend_options())
        for key in ("access_key_id", "secret_access_key"):
            if isinstance(options.get(key), SecretRef):
                options[key] = resolve(options[key], what=f"{where}.s3.{key}")
    if repo_cfg.sftp is not None:
        options.update(repo_cfg.sftp.backend_options())
        if isinstance(options.get("password"), SecretRef):
            options["password"] = resolve(options["password"], what=f"{where}.sftp.password")
    return options
