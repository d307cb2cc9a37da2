"""The one atomic-write helper (ebl_ref.atomic): all or nothing, and files as readable as any
other file the user writes (issue 7 case 8: not mkstemp's private 0600)."""

import os

import pytest

from ebl_ref.atomic import atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    saved = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_mode_is_0644_filtered_by_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    atomic_write_text(tmp_path / "a.json", "{}\n")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "a.json").read_text() == "{}\n"


def test_replaces_whole_file_and_leaves_no_temporary(tmp_path, umask):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    seen = []

    def write(f):
        seen.append(f.name)
        f.write(b"new contents")
    atomic_write_bytes(path, write)
    assert path.read_bytes() == b"new contents"
    assert os.path.dirname(seen[0]) == str(tmp_path), "temporary file beside the target"
    assert sorted(os.listdir(tmp_path)) == ["f.bin"], "no temporary left"


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_an_interrupted_write_leaves_the_old_file(tmp_path, exc):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def write(f):
        f.write(b"half")
        raise exc("stop")
    with pytest.raises(exc):
        atomic_write_bytes(path, write)
    assert path.read_bytes() == b"old", "untouched"
    assert os.listdir(tmp_path) == ["f.bin"], "temporary removed"


def test_missing_folder_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "no" / "f.txt", "x")
