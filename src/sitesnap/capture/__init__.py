"""Continuous capture: follow a database's change log and ship it in small pieces.

Beside ``sources/`` (which take whole dumps), on the same layer: nothing
here knows the repository.  A capture hands what it read (a base copy or a
batch of committed changes) to its caller, which stores it as log segments
(``repository/logstream.py``); replay takes those bytes back.  SQLite first:
``sqlite.py`` follows the WAL, ``sqlitereplay.py`` rebuilds a database from a
base and the frames of its commits.
"""
