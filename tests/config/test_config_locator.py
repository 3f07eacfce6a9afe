from __future__ import annotations

from sitesnap.config.locator import KeyLocator

TEXT = '''\
# comment
[site]
name = "blog"            # trailing comment

[[sources]]
name = "db"
"quoted key".sub = 1

[[sources]]
exclude = [
  "*.tmp",   # a comment with ] and "
  'cache/',
]
note = """
[[sources]]
name = "inside a string"
"""

[alerts]
x = 1
[[alerts.channels]]
type = "email"
[[alerts.channels]]
type = "slack"

[[repositories]]
name = "r"
[repositories.s3]
object_lock = { mode = "compliance", days = 30 }
'''


def test_lines_of_keys_tables_and_array_elements() -> None:
    locator = KeyLocator(TEXT)
    assert locator.exact(("site", "name")) == 3
    assert locator.exact(("sources", 0)) == 5
    assert locator.exact(("sources", 0, "quoted key", "sub")) == 7
    assert locator.exact(("sources", 1, "exclude")) == 10
    assert locator.exact(("sources", 1, "exclude", 0)) == 11
    assert locator.exact(("sources", 1, "exclude", 1)) == 12
    assert locator.exact(("sources", 1, "note")) == 14
    assert locator.exact(("sources", 2)) is None  # the header inside the string is text
    assert locator.exact(("alerts", "channels", 1, "type")) == 24
    assert locator.exact(("repositories", 0, "s3", "object_lock")) == 29


def test_unknown_paths_fall_back_to_the_nearest_ancestor() -> None:
    locator = KeyLocator(TEXT)
    assert locator.line_of(("repositories", 0, "s3", "object_lock", "days")) == 29
    assert locator.line_of(("repositories", 0, "url")) == 26
    assert locator.line_of(("web", "port")) == 1


def test_nested_arrays_count_per_parent() -> None:
    text = "[[a]]\n[[a.b]]\nx = 1\n[[a.b]]\nx = 2\n[[a]]\n[[a.b]]\nx = 3\n"
    locator = KeyLocator(text)
    assert locator.exact(("a", 0, "b", 1, "x")) == 5
    assert locator.exact(("a", 1, "b", 0, "x")) == 8
