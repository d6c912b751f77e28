"""Which MMAD question file a run scored: known revisions of ``mmad.json`` recognised by their bytes.

A file is recognised by its SHA-256 or by its git blob id (SHA-1 of ``b"blob <size>\\0" + bytes``, the id git
gives the file; computable from the bytes alone). What is known (see docs/protocols.md, "Question file
identity"):

- jam-cc/MMAD on GitHub stores ``dataset/MMAD/mmad.json`` as a plain git blob, not an LFS pointer (the
  repository has no .gitattributes); the same blob ``a8c97a39...`` from the first release (e30a94b) to bad03b4.
  Its bytes were not readable from any mirror we had, so its SHA-256 is not listed: it is recognised by its git
  blob id.
- the corrected Hugging Face revision (jiang-cc/MMAD, issue #21 cites revision f1ad11c0...) fixed labels and
  moved keys; neither its SHA-256 nor its LFS oid could be found, so it is not recognised (never guessed).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownQuestionFile:
    name: str
    sha256: str | None       # of the file's bytes, where known
    git_blob: str | None     # git's blob id of the file, where known
    source: str


KNOWN_FILES: tuple[KnownQuestionFile, ...] = (
    KnownQuestionFile("MMAD mmad.json, GitHub release (jam-cc/MMAD e30a94b..bad03b4)", None,
                      "a8c97a396fd738efa5e2a8ba9e07580c00c886b3",
                      "git ls-tree of jam-cc/MMAD at bad03b4 and e30a94b: dataset/MMAD/mmad.json"),
)


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file with these bytes (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def known_question_set(sha256: str | None, git_blob: str | None = None) -> str | None:
    """The name of a known MMAD question-file revision with this SHA-256 (or git blob id), else None.

    Either digest may be passed as the first argument (64 hex digits: SHA-256; 40: a git blob id)."""
    digests = {d.lower() for d in (sha256, git_blob) if d}
    for known in KNOWN_FILES:
        if digests & {d for d in (known.sha256, known.git_blob) if d}:
            return known.name
    return None
