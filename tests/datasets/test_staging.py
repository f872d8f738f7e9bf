"""The staging engine on real files in a temporary folder: no database, no Django."""

import errno
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from datasets import staging
from datasets.staging import (
    ManifestEntry,
    StageItem,
    StagingCancelled,
    StagingError,
    manifest_equal,
    remove_staging,
    stage,
    write_metadata,
)
from datasets.staging import folders as staging_folders
from datasets.staging import plumbing as staging_plumbing

CSV_LINE = b"2024-03-01T12:00:00,S017,20.3891,1,nominal\n"


def csv_bytes(n: int) -> bytes:
    rows = [b"%d," % i + CSV_LINE for i in range(n // len(CSV_LINE) + 1)]
    return b"".join(rows)[:n]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(dest: Path) -> list[str]:
    return [p.name for p in dest.iterdir() if p.name.endswith(".part")] if dest.exists() else []


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "storage"
    path.mkdir()
    return path


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "staging" / "job-1"


@pytest.fixture
def folder(root):
    """A dataset folder with text, already-compressed and incompressible members."""
    top = root / "images"
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "readme.txt").write_bytes(b"hello\n")
    (top / "table.csv").write_bytes(csv_bytes(300_000))
    (top / "sub" / "photo.png").write_bytes(csv_bytes(200_000))  # compressible, stored by name
    (top / "sub" / "noise.bin").write_bytes(os.urandom(600_000))
    (top / "sub" / "deeper" / "empty.dat").write_bytes(b"")
    return top


def file_item(path: Path, name: str | None = None, **kw) -> StageItem:
    return StageItem(name=name or path.name, source=path, kind="file", **kw)


# --- Files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, staging.CHUNK_SIZE - 1, staging.CHUNK_SIZE, 2 * staging.CHUNK_SIZE + 7],
)
def test_staged_file_is_a_byte_copy_with_hashlibs_checksum(root, dest, size):
    data = os.urandom(size)
    src = root / "data.bin"
    src.write_bytes(data)

    [entry] = stage([file_item(src)], dest, packaging="zip", root=root)

    assert entry == ManifestEntry(
        name="data.bin", size=size, sha256=hashlib.sha256(data).hexdigest()
    )
    assert (dest / "data.bin").read_bytes() == data
    assert sorted(p.name for p in dest.iterdir()) == ["data.bin"]


def test_text_files_and_fsync_give_the_same_result(root, dest):
    src = root / "data.csv"
    src.write_bytes(csv_bytes(3 * staging.CHUNK_SIZE + 11))

    [entry] = stage([file_item(src)], dest, packaging="zip", fsync=True)

    assert entry.sha256 == sha256(src) == sha256(dest / "data.csv")


def test_progress_adds_up_to_the_bytes_read(root, dest, folder):
    src = root / "data.bin"
    src.write_bytes(os.urandom(3 * staging.CHUNK_SIZE))
    deltas = []

    stage(
        [file_item(src), StageItem("images", folder, "folder")],
        dest,
        packaging="zip",
        progress=deltas.append,
    )

    folder_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert sum(deltas) == 3 * staging.CHUNK_SIZE + folder_bytes
    assert all(d > 0 for d in deltas)


def test_a_file_that_vanished_fails_naming_it(root, dest):
    src = root / "gone.csv"

    with pytest.raises(StagingError) as caught:
        stage([file_item(src)], dest, packaging="zip", root=root)

    assert caught.value.code == "source_missing"
    assert "gone.csv" in caught.value.message
    assert leftovers(dest) == []


def test_a_file_whose_size_changed_since_approval_fails_naming_it(root, dest):
    src = root / "data.csv"
    src.write_bytes(csv_bytes(1000))
    approved = file_item(src, expected_size=999, expected_mtime_ns=src.stat().st_mtime_ns)

    with pytest.raises(StagingError) as caught:
        stage([approved], dest, packaging="zip", root=root)

    assert caught.value.code == "source_changed"
    assert "data.csv" in str(caught.value)
    assert "999" in str(caught.value)
    assert not (dest / "data.csv").exists()


def test_a_file_touched_since_approval_fails(root, dest):
    src = root / "data.csv"
    src.write_bytes(csv_bytes(1000))
    st = src.stat()
    approved = file_item(src, expected_size=st.st_size, expected_mtime_ns=st.st_mtime_ns)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))

    with pytest.raises(StagingError) as caught:
        stage([approved], dest, packaging="zip", root=root)

    assert caught.value.code == "source_changed"
    assert "data.csv" in caught.value.message


def test_a_float_mtime_frozen_at_submission_still_matches(root, dest):
    src = root / "data.csv"
    src.write_bytes(csv_bytes(1000))
    st = src.stat()
    as_frozen = int(st.st_mtime * 1e9)  # what a JSON float mtime gives back

    [entry] = stage(
        [file_item(src, expected_size=st.st_size, expected_mtime_ns=as_frozen)],
        dest,
        packaging="zip",
    )

    assert entry.size == 1000


def test_the_first_failure_leaves_no_temporary_file_behind(root, dest, monkeypatch):
    src = root / "big.bin"
    src.write_bytes(os.urandom(3 * staging.CHUNK_SIZE))
    real_write = os.write
    calls = []

    def disk_fills_up(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(staging.os, "write", disk_fills_up)

    with pytest.raises(OSError, match="No space left"):
        stage([file_item(src)], dest, packaging="zip")

    assert list(dest.iterdir()) == []


def test_a_symlink_out_of_the_root_is_refused(root, dest, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not lab data")
    (root / "innocent.csv").symlink_to(outside)

    with pytest.raises(StagingError) as caught:
        stage([file_item(root / "innocent.csv")], dest, packaging="zip", root=root)

    assert caught.value.code == "unsafe_path"
    assert "innocent.csv" in caught.value.message
    assert leftovers(dest) == []


def test_a_symlinked_folder_out_of_the_root_is_refused(root, dest, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "data.csv").write_text("a,b\n")
    (root / "run1").symlink_to(outside, target_is_directory=True)

    with pytest.raises(StagingError) as caught:
        stage([file_item(root / "run1" / "data.csv")], dest, packaging="zip", root=root)

    assert caught.value.code == "unsafe_path"


def test_a_symlink_inside_the_root_is_resolved_and_staged(root, dest):
    (root / "real.csv").write_bytes(b"a,b\n1,2\n")
    (root / "alias.csv").symlink_to(root / "real.csv")

    [entry] = stage([file_item(root / "alias.csv")], dest, packaging="zip", root=root)

    assert entry.sha256 == sha256(root / "real.csv")


def test_a_fifo_in_place_of_a_file_fails_without_hanging(root, dest):
    os.mkfifo(root / "data.csv")

    with pytest.raises(StagingError) as caught:
        stage([file_item(root / "data.csv")], dest, packaging="zip", root=root)

    assert caught.value.code == "source_changed"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_fails_naming_it(root, dest):
    src = root / "locked.csv"
    src.write_text("a\n")
    src.chmod(0)

    with pytest.raises(StagingError) as caught:
        stage([file_item(src)], dest, packaging="zip", root=root)

    assert caught.value.code == "source_unreadable"
    assert "locked.csv" in caught.value.message


def test_two_items_with_one_published_name_are_refused(root, dest):
    (root / "a.csv").write_text("1\n")

    with pytest.raises(StagingError) as caught:
        stage(
            [file_item(root / "a.csv", "x.csv"), file_item(root / "a.csv", "x.csv")],
            dest,
            packaging="zip",
        )

    assert caught.value.code == "duplicate_name"


@pytest.mark.parametrize("name", ["../x.csv", "sub/x.csv", ".hidden", "dataset-metadata.json"])
def test_unsafe_published_names_are_refused(root, dest, name):
    (root / "a.csv").write_text("1\n")

    with pytest.raises(StagingError) as caught:
        stage([file_item(root / "a.csv", name)], dest, packaging="zip")

    assert caught.value.code == "unsafe_name"


# --- Folders -----------------------------------------------------------------------------


def test_a_folder_becomes_a_zip_with_safe_names_and_stored_compressed_members(folder, dest, root):
    [entry] = stage([StageItem("images", folder, "folder")], dest, packaging="zip", root=root)

    archive = dest / "images.zip"
    assert entry.name == "images.zip"
    assert entry.size == archive.stat().st_size
    assert entry.sha256 == sha256(archive)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        infos = {i.filename: i for i in zf.infolist()}
        assert sorted(infos) == [
            "readme.txt",
            "sub/deeper/empty.dat",
            "sub/noise.bin",
            "sub/photo.png",
            "table.csv",
        ]
        for name, info in infos.items():
            assert not name.startswith("/") and ".." not in name.split("/") and "\\" not in name
            assert zf.read(info) == (folder / name).read_bytes()
        assert infos["table.csv"].compress_type == zipfile.ZIP_DEFLATED
        assert infos["table.csv"].compress_size < infos["table.csv"].file_size / 3
        assert infos["sub/photo.png"].compress_type == zipfile.ZIP_STORED
        assert infos["sub/noise.bin"].compress_type == zipfile.ZIP_STORED


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs Info-ZIP unzip")
def test_info_zip_accepts_the_archive(folder, dest):
    stage([StageItem("images", folder, "folder")], dest, packaging="zip")

    result = subprocess.run(
        ["unzip", "-t", str(dest / "images.zip")], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_large_members_use_zip64_records_readers_accept(folder, dest, monkeypatch):
    monkeypatch.setattr(staging_folders, "_ZIP64_LIMIT", 1000)

    stage([StageItem("images", folder, "folder")], dest, packaging="zip")

    with zipfile.ZipFile(dest / "images.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("table.csv") == (folder / "table.csv").read_bytes()
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(dest / "images.zip")], check=True)


def test_a_folder_becomes_a_tar_of_regular_files(folder, dest):
    [entry] = stage([StageItem("images.tar", folder, "folder")], dest, packaging="tar")

    archive = dest / "images.tar"
    assert entry.name == "images.tar"
    assert entry.sha256 == sha256(archive)
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        assert sorted(m.name for m in members) == [
            "readme.txt",
            "sub/deeper/empty.dat",
            "sub/noise.bin",
            "sub/photo.png",
            "table.csv",
        ]
        for member in members:
            assert member.isreg()
            assert tf.extractfile(member).read() == (folder / member.name).read_bytes()


@pytest.mark.parametrize("packaging", ["zip", "tar"])
def test_symlinks_and_fifos_in_a_folder_are_left_out_and_reported(
    folder, dest, tmp_path, packaging
):
    (tmp_path / "secret.txt").write_text("not lab data")
    (folder / "sub" / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    os.mkfifo(folder / "pipe")

    [entry] = stage([StageItem("images", folder, "folder")], dest, packaging=packaging)

    assert sorted(entry.skipped) == ["loop", "pipe", "sub/escape.txt"]
    data = (dest / f"images.{packaging}").read_bytes()
    assert b"not lab data" not in data
    if packaging == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    else:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            names = tf.getnames()
    assert "sub/escape.txt" not in names and "loop" not in names


def test_a_backslash_in_a_member_name_is_refused(folder, dest):
    (folder / "..\\..\\evil.txt").write_text("x")

    with pytest.raises(StagingError) as caught:
        stage([StageItem("images", folder, "folder")], dest, packaging="zip")

    assert caught.value.code == "unsafe_name"
    assert leftovers(dest) == []


@pytest.mark.parametrize("packaging", ["zip", "tar"])
def test_the_same_folder_gives_the_same_bytes(folder, tmp_path, packaging):
    item = StageItem("images", folder, "folder")

    first = stage([item], tmp_path / "a", packaging=packaging)
    second = stage([item], tmp_path / "b", packaging=packaging)
    (folder / "table.csv").write_bytes(csv_bytes(300_001))
    third = stage([item], tmp_path / "c", packaging=packaging)

    assert manifest_equal(first, second)
    assert not manifest_equal(first, third)


def test_a_folder_whose_total_changed_fails(folder, dest):
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    (folder / "extra.csv").write_text("new\n")

    with pytest.raises(StagingError) as caught:
        stage([StageItem("images", folder, "folder", expected_size=total)], dest, packaging="zip")

    assert caught.value.code == "source_changed"
    assert "images" in caught.value.message


def test_a_changed_entry_in_a_folder_fails_naming_the_entry(folder, dest):
    entries = tuple(
        (p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    )
    table = folder / "table.csv"
    st = table.stat()
    table.write_bytes(csv_bytes(st.st_size)[::-1])  # same size, new content
    os.utime(table, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    with pytest.raises(StagingError) as caught:
        stage(
            [StageItem("images", folder, "folder", expected_entries=entries)],
            dest,
            packaging="zip",
        )

    assert caught.value.code == "source_changed"
    assert "table.csv" in caught.value.message


def test_a_vanished_entry_in_a_folder_fails_naming_the_entry(folder, dest):
    entries = tuple(
        (p.relative_to(folder).as_posix(), p.stat().st_size, None)
        for p in folder.rglob("*")
        if p.is_file()
    )
    (folder / "sub" / "noise.bin").unlink()

    with pytest.raises(StagingError) as caught:
        stage(
            [StageItem("images", folder, "folder", expected_entries=entries)],
            dest,
            packaging="tar",
        )

    assert caught.value.code == "source_missing"
    assert "sub/noise.bin" in caught.value.message


# --- Cancel --------------------------------------------------------------------------------


def test_cancel_before_the_first_byte(root, dest):
    (root / "a.csv").write_text("1\n")

    with pytest.raises(StagingCancelled):
        stage([file_item(root / "a.csv")], dest, packaging="zip", should_stop=lambda: True)

    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_cancel_between_chunks_removes_the_partial_output(root, dest, folder, monkeypatch, kind):
    monkeypatch.setattr(staging_plumbing, "STOP_CHECK_SECONDS", 0)
    monkeypatch.setattr(staging_plumbing, "CHUNK_SIZE", 64 << 10)
    src = root / "data.bin"
    src.write_bytes(os.urandom(1 << 20))
    checks = []

    def stop_on_third_check():
        checks.append(1)
        return len(checks) >= 3

    item = file_item(src) if kind == "file" else StageItem("images", folder, "folder")
    with pytest.raises(StagingCancelled):
        stage([item], dest, packaging="zip", should_stop=stop_on_third_check)

    assert list(dest.iterdir()) == []


# --- Metadata, manifests, clean-up -------------------------------------------------------


def test_metadata_is_written_beside_the_files(dest):
    dest.mkdir(parents=True)
    metadata = {"title": "Ünïcode run", "id": "lab/run", "isPrivate": True}

    write_metadata(dest, metadata)
    write_metadata(dest, {**metadata, "title": "Second"})

    assert [p.name for p in dest.iterdir()] == ["dataset-metadata.json"]
    assert json.loads((dest / "dataset-metadata.json").read_text("utf-8"))["title"] == "Second"


def test_manifests_compare_by_content_in_any_order_and_form():
    a = [ManifestEntry("a.csv", 3, "AB" * 32), ManifestEntry("b.zip", 5, "cd" * 32)]
    b = [{"name": "b.zip", "size": 5, "sha256": "cd" * 32}, a[0].to_dict()]

    assert manifest_equal(a, b)
    assert not manifest_equal(a, b[:1])
    assert not manifest_equal(a, [a[0], ManifestEntry("b.zip", 5, "ce" * 32)])


def test_remove_staging_removes_the_folder_and_tolerates_a_missing_one(dest, tmp_path):
    (dest / "sub").mkdir(parents=True)
    (dest / "sub" / "f").write_text("x")

    remove_staging(dest)
    remove_staging(dest)

    assert not dest.exists()
    (tmp_path / "keep").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "keep")
    with pytest.raises(ValueError):
        remove_staging(tmp_path / "link")
    assert (tmp_path / "keep").exists()


@pytest.mark.parametrize("packaging", ["zip", "tar"])
def test_long_and_non_ascii_member_names_survive(folder, dest, packaging):
    deep = folder / ("d" * 120) / "données"
    deep.mkdir(parents=True)
    (deep / ("mesure-" * 20 + ".csv")).write_bytes(b"x,y\n1,2\n")
    name = f"{'d' * 120}/données/{'mesure-' * 20}.csv"

    stage([StageItem("images", folder, "folder")], dest, packaging=packaging)

    if packaging == "zip":
        with zipfile.ZipFile(dest / "images.zip") as zf:
            assert zf.read(name) == b"x,y\n1,2\n"
    else:
        with tarfile.open(dest / "images.tar") as tf:
            assert tf.extractfile(name).read() == b"x,y\n1,2\n"


def test_a_folder_replaced_by_a_file_fails(root, dest):
    (root / "images").write_text("not a folder any more")

    with pytest.raises(StagingError) as caught:
        stage([StageItem("images", root / "images", "folder")], dest, packaging="zip", root=root)

    assert caught.value.code == "source_changed"
    assert "images" in caught.value.message


def test_no_file_descriptor_is_left_open(folder, dest, root):
    (folder / "sub" / "deeper" / "more").mkdir()
    (folder / "sub" / "deeper" / "more" / "x.csv").write_text("1\n")
    before = len(os.listdir("/proc/self/fd"))

    stage([StageItem("images", folder, "folder")], dest, packaging="zip", root=root)
    with pytest.raises(StagingError):
        stage(
            [StageItem("images", folder, "folder", expected_size=1)],
            dest / "again",
            packaging="tar",
            root=root,
        )
    with pytest.raises(StagingError):
        stage([file_item(root / "missing.csv")], dest, packaging="zip", root=root)

    assert len(os.listdir("/proc/self/fd")) == before


# --- immutable uploads: staged by hard link ---------------------------------------------


def test_an_upload_is_staged_by_hard_link_with_its_known_hash(tmp_path):
    source = tmp_path / "media" / "u.csv"
    source.parent.mkdir()
    source.write_bytes(csv_bytes(300_000))
    known = sha256(source)
    item = StageItem("data.csv", source, "file", expected_size=source.stat().st_size,
                     link=True, sha256=known)  # fmt: skip
    [entry] = staging.stage([item], tmp_path / "out", packaging="zip")
    staged = tmp_path / "out" / "data.csv"
    assert staged.stat().st_ino == source.stat().st_ino  # no byte written
    assert (entry.size, entry.sha256) == (source.stat().st_size, known)


def test_an_upload_without_a_known_hash_is_hashed_while_linked(tmp_path):
    source = tmp_path / "u.bin"
    source.write_bytes(os.urandom(2_000_000))
    item = StageItem("u.bin", source, "file", link=True)
    [entry] = staging.stage([item], tmp_path / "out", packaging="zip")
    assert entry.sha256 == sha256(source)
    assert (tmp_path / "out" / "u.bin").stat().st_ino == source.stat().st_ino


def test_an_upload_is_copied_when_links_cross_filesystems(tmp_path, monkeypatch):
    source = tmp_path / "u.csv"
    source.write_bytes(csv_bytes(50_000))

    def refuse(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(staging.os, "link", refuse)
    item = StageItem("u.csv", source, "file", link=True)
    [entry] = staging.stage([item], tmp_path / "out", packaging="zip")
    staged = tmp_path / "out" / "u.csv"
    assert staged.stat().st_ino != source.stat().st_ino
    assert entry.sha256 == sha256(source) == sha256(staged)


def test_a_linked_upload_of_another_size_than_approved_is_refused(tmp_path):
    source = tmp_path / "u.csv"
    source.write_bytes(csv_bytes(1000))
    item = StageItem("u.csv", source, "file", expected_size=5, link=True)
    with pytest.raises(StagingError) as caught:
        staging.stage([item], tmp_path / "out", packaging="zip")
    assert caught.value.code == "source_changed"
    assert list((tmp_path / "out").iterdir()) == []


# --- storage files sent from storage: staged by symlink, nothing read -------------------


def test_a_direct_file_is_staged_as_a_symlink_under_its_published_name(tmp_path):
    root = tmp_path / "storage"
    (root / "runs").mkdir(parents=True)
    source = root / "runs" / "raw-2026.csv"
    source.write_bytes(csv_bytes(300_000))
    known = sha256(source)
    item = StageItem("readings.csv", source, "file", expected_size=source.stat().st_size,
                     sha256=known, direct=True)  # fmt: skip
    seen = []
    [entry] = staging.stage([item], tmp_path / "out", packaging="zip", root=root,
                            progress=seen.append)  # fmt: skip
    staged = tmp_path / "out" / "readings.csv"
    assert staged.is_symlink() and os.path.samefile(staged, source)
    assert (entry.name, entry.size, entry.sha256) == ("readings.csv", source.stat().st_size, known)
    st = source.stat()
    assert entry.source == staging.SourceIdentity(st.st_dev, st.st_ino, st.st_size,
                                                  st.st_mtime_ns, st.st_ctime_ns)  # fmt: skip
    assert sum(seen) == st.st_size  # counted as staged at once
    assert "source" not in entry.to_dict()


def test_a_direct_file_of_another_size_or_leading_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "storage"
    root.mkdir()
    source = root / "a.csv"
    source.write_bytes(csv_bytes(1000))
    (tmp_path / "secret.csv").write_bytes(b"x")
    (root / "escape.csv").symlink_to(tmp_path / "secret.csv")
    for item, code in (
        (StageItem("a.csv", source, "file", expected_size=5, sha256="0" * 64, direct=True),
         "source_changed"),
        (StageItem("e.csv", root / "escape.csv", "file", sha256="0" * 64, direct=True),
         "unsafe_path"),
    ):  # fmt: skip
        with pytest.raises(StagingError) as caught:
            staging.stage([item], tmp_path / "out", packaging="zip", root=root)
        assert caught.value.code == code
        assert list((tmp_path / "out").iterdir()) == []


def test_a_direct_file_without_a_known_hash_is_copied(tmp_path):
    source = tmp_path / "old.csv"
    source.write_bytes(csv_bytes(10_000))
    [entry] = staging.stage([StageItem("old.csv", source, "file", direct=True)],
                            tmp_path / "out", packaging="zip")  # fmt: skip
    staged = tmp_path / "out" / "old.csv"
    assert not staged.is_symlink() and staged.stat().st_ino != source.stat().st_ino
    assert entry.sha256 == sha256(source) and entry.source is None


@pytest.mark.parametrize("same_content", [True, False])
def test_a_direct_file_touched_since_approval_is_hashed_before_it_is_linked(tmp_path, same_content):
    source = tmp_path / "a.csv"
    source.write_bytes(csv_bytes(20_000))
    known = sha256(source)
    approved_mtime = source.stat().st_mtime_ns
    if not same_content:
        data = bytearray(source.read_bytes())
        data[-2:] = b"9\n"
        source.write_bytes(bytes(data))
    os.utime(source, ns=(approved_mtime, approved_mtime + 5_000_000_000))
    item = StageItem("a.csv", source, "file", expected_size=source.stat().st_size,
                     expected_mtime_ns=approved_mtime, sha256=known, direct=True)  # fmt: skip
    if same_content:
        [entry] = staging.stage([item], tmp_path / "out", packaging="zip")
        assert (tmp_path / "out" / "a.csv").is_symlink() and entry.sha256 == known
        return
    with pytest.raises(StagingError) as caught:
        staging.stage([item], tmp_path / "out", packaging="zip")
    assert caught.value.code == "source_changed" and "a.csv" in caught.value.message
    assert list((tmp_path / "out").iterdir()) == []
