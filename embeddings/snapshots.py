"""Index versions on disk: immutable segments, and small manifests that name them.

Layout under the index root::

    CURRENT                 name of the live version (replaced atomically with os.replace)
    segments/<segment>/     one immutable segment; segment.json (counts, checksums) last
    versions/<version>/     manifest.json (segments, tombstones, counts) and the tombstone
                            arrays of the segments with withdrawn articles
    building/<name>/        segments and versions being written; junk after a crash

A version is published by writing its new segments and its manifest beside the live
version, then replacing CURRENT: readers never see a half-written version. A reader
verifies each segment's checksums once, when it first loads it, and keeps it (segments
never change), so following a new version costs only what it adds.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.columns import load_array, save_array
from embeddings.encoder import file_sha256
from embeddings.errors import IndexIntegrityError, NoIndexError, OldIndexFormatError
from embeddings.index import FORMAT_VERSION, SearchIndex
from embeddings.segment import Segment, new_segment_name

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SEGMENT_META = "segment.json"
POINTER = "CURRENT"


def new_version_id() -> str:
    """A sortable, unique version id: UTC time plus random hex."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        else:
            _fsync_dir(path)
    _fsync_dir(folder)


def _checksums(folder: Path, skip: str) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != skip
    }


def _verify_files(folder: Path, expected: Any, skip: str) -> None:
    if not isinstance(expected, dict) or not expected:
        raise IndexIntegrityError(f"{folder}: its description lists no files")
    actual = _checksums(folder, skip)
    if actual != expected:
        bad = sorted(set(expected) ^ set(actual)) or sorted(
            k for k in expected if expected[k] != actual.get(k)
        )
        raise IndexIntegrityError(f"{folder}: files do not match their checksums: {bad}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexIntegrityError(f"{path}: missing or unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise IndexIntegrityError(f"{path}: not a JSON object")
    return data


class Snapshots:
    """The index versions under one root folder."""

    def __init__(self, root: Path, *, ann: bool = True) -> None:
        """``ann=False`` opens versions to read rows, not to search them: large levels'
        ANN indexes stay on disk (a shard coordinator's shards search; it only reads)."""
        self.root = root
        self.ann = ann
        self.versions = root / "versions"
        self.segments = root / "segments"
        self.building = root / "building"
        self._warned_empty = False
        self._loaded: dict[str, Segment] = {}  # verified segments, reused across versions
        self._loaded_lock = threading.Lock()

    def current_version(self) -> str | None:
        """Name of the live version, or None if none was ever published."""
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not name:
            # Publishing replaces CURRENT atomically, so an empty one was damaged by hand
            # or by the disk; said once, not at every poll.
            if not self._warned_empty:
                log.warning(
                    "%s is empty (damaged); treating the index as missing, so it is rebuilt "
                    "from the store",
                    self.root / POINTER,
                )
                self._warned_empty = True
            return None
        self._warned_empty = False
        return name

    def publish(self, index: SearchIndex) -> Path:
        """Write ``index``'s new segments and manifest, then make it live atomically."""
        for folder in (self.building, self.versions, self.segments):
            folder.mkdir(parents=True, exist_ok=True)
        for segment in index.segments:
            if not (self.segments / segment.name / SEGMENT_META).exists():
                self.write_segment(segment)
        staging = self.building / index.version
        staging.mkdir()
        entries = []
        for segment, dead in zip(index.segments, index.dead, strict=True):
            entry: dict[str, Any] = {"name": segment.name, "counts": segment.counts}
            if dead.any():
                entry["tombstones"] = f"tombstones.{segment.name}"
                save_array(staging, entry["tombstones"], np.packbits(dead))
            entries.append(entry)
        manifest = dict(index.manifest, format=FORMAT_VERSION, segments=entries)
        manifest["files"] = _checksums(staging, MANIFEST)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync_tree(staging)
        final = self.versions / index.version
        os.rename(staging, final)
        _fsync_dir(self.versions)
        _fsync_dir(self.building)
        tmp = self.root / f"{POINTER}.{secrets.token_hex(4)}.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            f.write(index.version + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / POINTER)
        _fsync_dir(self.root)
        index.manifest = manifest
        log.info("published index version %s (%d segments)", index.version, len(entries))
        return final

    def write_segment(self, segment: Segment) -> Segment:
        """Write a new segment; return it mapped from disk (kept for the version that will
        name it: its checksums were just computed from the files written, so loading that
        version does not read them again).

        Call under the writer lock. Until a published version names it, ``clean`` removes
        it: a build that dies leaves nothing behind.
        """
        for folder in (self.building, self.segments):
            folder.mkdir(parents=True, exist_ok=True)
        staging = self.building / segment.name
        segment.save(staging)
        return self._place(staging, segment.counts, _checksums(staging, SEGMENT_META))

    def _place(self, staging: Path, counts: dict[str, int], files: dict[str, str]) -> Segment:
        """Describe a segment written in ``staging`` (its ``files`` and their checksums),
        move it into ``segments/`` durably, and return it mapped from there."""
        meta = {"counts": counts, "files": files}
        (staging / SEGMENT_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        _fsync_tree(staging)
        final = self.segments / staging.name
        os.rename(staging, final)
        _fsync_dir(self.segments)
        mapped = Segment.load(final, counts, ann=self.ann)
        with self._loaded_lock:
            self._loaded[staging.name] = mapped
        return mapped

    def upgraded(self, index: SearchIndex, version: str) -> SearchIndex | None:
        """``index`` as a new version whose segments are all written as this version writes
        them, or None when they already are (``Segment.outdated``: written before block-max
        metadata, with an older kind of ANN index, with unpacked postings, or with float32
        vectors beside an ANN index).

        Such a segment is written again under a new name: the files that stay as they were
        hard-linked, not copied (they never change), plus what ``Segment.save_upgrade``
        writes; nothing is re-embedded. The version is not published. Call under the
        writer lock.
        """
        renamed = {
            s.name: self._relinked(s)
            for s in index.segments
            if Segment.outdated(self.segments / s.name)
        }
        if not renamed:
            return None
        manifest = dict(index.manifest, version=version, base_version=index.version)
        segments = [renamed.get(s.name, s) for s in index.segments]
        return SearchIndex(version, manifest, segments, list(index.dead))

    def _relinked(self, segment: Segment) -> Segment:
        source = self.segments / segment.name
        meta = _read_json(source / SEGMENT_META)
        name = new_segment_name()
        staging = self.building / name
        staging.mkdir(parents=True)
        kept = {
            k: v for k, v in meta["files"].items() if not Segment.rewritten_by_upgrade(source, k)
        }
        for file in kept:
            try:
                os.link(source / file, staging / file)
            except OSError:  # a file system without hard links
                shutil.copy2(source / file, staging / file)
        done = segment.save_upgrade(source, staging)
        added = {p.name: file_sha256(p) for p in staging.iterdir() if p.name not in kept}
        mapped = self._place(staging, segment.counts, dict(sorted({**kept, **added}.items())))
        log.info("segment %s written again as %s: %s", segment.name, name, ", ".join(done))
        return mapped

    def load_current(self) -> SearchIndex:
        """Load and verify the live version."""
        version = self.current_version()
        if version is None:
            raise NoIndexError(
                f"no index in {self.root}; run `briefing rebuild` (or `briefing serve`, "
                "which builds one from the default corpus)"
            )
        return self.load(version)

    def load(self, version: str, *, searched: Collection[str] = ()) -> SearchIndex:
        """Load one version: its manifest and tombstones checked, each segment verified
        against its checksums the first time it is loaded.

        ``searched`` names segments to open for searching even when this folder's versions
        are opened without ANN indexes (a shard's own segments).
        """
        manifest = self.verify(self.versions / version)
        segments, dead = [], []
        for entry in manifest["segments"]:
            name = str(entry["name"])
            segment = self._segment(name, entry["counts"], self.ann or name in searched)
            n = segment.counts["articles"]
            if "tombstones" in entry:
                bits = load_array(self.versions / version, str(entry["tombstones"]))
                mask = np.unpackbits(np.asarray(bits), count=n).astype(bool)
            else:
                mask = np.zeros(n, dtype=bool)
            segments.append(segment)
            dead.append(mask)
        index = SearchIndex(str(manifest["version"]), manifest, segments, dead)
        if index.live_counts != manifest["counts"]:
            raise IndexIntegrityError(
                f"version {version}: live rows {index.live_counts} differ from the "
                f"manifest's {manifest['counts']}"
            )
        with self._loaded_lock:  # keep only what this version uses
            self._loaded = {s.name: s for s in segments}
        return index

    def _segment(self, name: str, counts: dict[str, int], ann: bool) -> Segment:
        folder = self.segments / name
        with self._loaded_lock:
            segment = self._loaded.get(name)
        if segment is not None:
            if segment.searchable or not ann:
                return segment
            return Segment.load(folder, counts)  # verified when first loaded
        meta = _read_json(folder / SEGMENT_META)
        if meta.get("counts") != counts:
            raise IndexIntegrityError(f"segment {name}: counts differ from the manifest")
        _verify_files(folder, meta.get("files"), SEGMENT_META)
        return Segment.load(folder, counts, ann=ann)

    def verify(self, folder: Path) -> dict[str, Any]:
        """The manifest of a version folder, if it is of this format and its files intact."""
        manifest = _read_json(folder / MANIFEST)
        if manifest.get("format") != FORMAT_VERSION:
            raise OldIndexFormatError(
                f"{folder.name} is in index format {manifest.get('format')}, not {FORMAT_VERSION}"
            )
        if not isinstance(manifest.get("segments"), list):
            raise IndexIntegrityError(f"{folder}: manifest lists no segments")
        if manifest.get("files"):
            _verify_files(folder, manifest["files"], MANIFEST)
        elif any(p.name != MANIFEST for p in folder.iterdir()):
            raise IndexIntegrityError(f"{folder}: files not listed in the manifest")
        return manifest

    def clean(self, keep: int = 2) -> None:
        """Remove half-written builds, all but the newest ``keep`` old versions, and the
        segments no remaining version names.

        Call only while holding the writer lock, so no build in progress is removed.
        """
        if self.building.exists():
            for junk in self.building.iterdir():
                log.warning("removing unfinished index build %s", junk.name)
                shutil.rmtree(junk, ignore_errors=True)
        for junk in self.root.glob(f"{POINTER}.*.tmp"):  # a pointer never moved into place
            junk.unlink(missing_ok=True)
        live = self.current_version()
        if not self.versions.exists():
            return
        old = sorted(p for p in self.versions.iterdir() if p.name != live)
        for path in old[: max(0, len(old) - keep)]:
            shutil.rmtree(path, ignore_errors=True)
        if not self.segments.exists():
            return
        named: set[str] = set()
        for folder in self.versions.iterdir():
            try:
                manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
                named.update(str(e["name"]) for e in manifest.get("segments", []))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        for folder in self.segments.iterdir():
            if folder.name not in named:
                shutil.rmtree(folder, ignore_errors=True)
