"""The marshal cache: made once, read after, remade when broken, harmless when unwritable."""
from index.files import cached_marshal


def test_a_value_is_made_once_then_read_from_its_file(tmp_path):
    calls = []
    path = tmp_path / "deep" / "value.marshal"
    assert cached_marshal(path, lambda: calls.append(1) or {"词": (1, 2)}) == {"词": (1, 2)}
    assert cached_marshal(path, lambda: calls.append(1) or "other") == {"词": (1, 2)}
    assert calls == [1] and path.is_file()


def test_a_broken_cache_is_made_again(tmp_path):
    path = tmp_path / "value.marshal"
    path.write_bytes(b"\xff\xff")
    assert cached_marshal(path, lambda: [3]) == [3]
    assert cached_marshal(path, lambda: [4]) == [3]


def test_an_unwritable_cache_still_returns_the_value(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # the cache's folder cannot be made under a file, not even by root
    assert cached_marshal(blocker / "value.marshal", lambda: 5) == 5
    assert cached_marshal(blocker / "value.marshal", lambda: 6) == 6
