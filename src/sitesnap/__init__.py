"""sitesnap: site snapshots and database backups for web applications.

The public entry points are the ``sitesnap`` command line (``sitesnap.cli``), the
Flask app factory (``sitesnap.web.create_app``) and the Flask extension
(``sitesnap.ext.Sitesnap``).  Everything below them is the engine they share.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
