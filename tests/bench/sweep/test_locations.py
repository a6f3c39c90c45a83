"""Locations: parsing, validation, file-system detection, scratch clean-up."""

from __future__ import annotations

import os

import pytest

from gigq.bench.sweep.locations import (
    LocationError,
    Locations,
    Scratch,
    find_tmpfs,
    fs_type,
    parse_location,
)


def test_parse_location():
    assert parse_location("disk") == ("disk", None)
    assert parse_location("hdd=/mnt/hdd") == ("hdd", "/mnt/hdd")
    for bad in ("=/x", "9lives=/x", "memory=/x", "hdd=", "two words"):
        with pytest.raises(LocationError):
            parse_location(bad)


def test_define_validates_the_directory(tmp_path):
    locs = Locations(tmp_path / "out", create=False)
    with pytest.raises(LocationError, match="does not exist"):
        locs.define("ghost", str(tmp_path / "nope"))
    locs.define("here", str(tmp_path))
    here = locs.resolve("here")
    assert here.path == str(tmp_path) and here.fs_type
    with pytest.raises(LocationError, match="unknown location 'elsewhere'"):
        locs.resolve("elsewhere")


def test_disk_is_beside_the_output_directory(tmp_path):
    out = tmp_path / "out"
    locs = Locations(out)
    disk = locs.resolve("disk")
    assert disk.path == str(out.resolve()) and out.is_dir()
    assert disk.fs_type == fs_type(tmp_path)


def test_dry_run_does_not_create_the_output_directory(tmp_path):
    out = tmp_path / "later" / "out"
    Locations(out, create=False).resolve("disk")
    assert not out.exists()


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm on this machine")
def test_tmpfs_detection():
    if fs_type("/dev/shm") != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs here")
    assert find_tmpfs() is not None
    assert fs_type(find_tmpfs()) in ("tmpfs", "ramfs")


def test_memory_location():
    mem = Locations("/nonexistent", create=False).resolve("memory")
    assert mem.in_memory and mem.path is None


def test_scratch_is_removed(tmp_path):
    locs = Locations(tmp_path)
    locs.define("here", str(tmp_path))
    scratch = Scratch()
    d = scratch.dir_for(locs.resolve("here"))
    assert os.path.isdir(d) and os.path.basename(d).startswith("gigq-bench-scratch-")
    scratch.cleanup()
    assert not os.path.exists(d)
