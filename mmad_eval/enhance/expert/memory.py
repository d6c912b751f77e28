"""Memory bank of normal patch features with exact 1-nearest-neighbour distances (numpy only).

Distances use one float32 matrix product per query chunk: ``|b|^2 - 2 q.b`` is computed as
``[q, 1] @ [-2b, |b|^2]^T`` and its row minimum plus ``|q|^2`` is the squared 1-NN distance. Banks larger
than ``max_size`` are reduced by a greedy k-centre coreset (PatchCore's subsampling) on a random
projection, seeded, so the bank still covers rare normal patches.
"""
from __future__ import annotations

import numpy as np

CHUNK = 1024


def greedy_coreset(x: np.ndarray, size: int, seed: int = 0, dims: int = 16) -> np.ndarray:
    """Indices of a greedy k-centre coreset of the rows of ``x`` (on a random projection)."""
    n = x.shape[0]
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    proj = x @ (rng.standard_normal((x.shape[1], dims)).astype(np.float32) / np.sqrt(dims))
    chosen = np.empty(size, dtype=np.int64)
    sq = (proj * proj).sum(1)
    chosen[0] = rng.integers(n)
    dist = sq - 2.0 * (proj @ proj[chosen[0]]) + sq[chosen[0]]
    for i in range(1, size):
        j = int(dist.argmax())
        chosen[i] = j
        np.minimum(dist, sq - 2.0 * (proj @ proj[j]) + sq[j], out=dist)
    return np.sort(chosen)


class MemoryBank:
    """Normal patches with the index of the reference each came from (for leave-one-out queries)."""

    def __init__(self, patches: list[np.ndarray], max_size: int = 10000, seed: int = 0):
        feats = np.concatenate(patches).astype(np.float32)
        origin = np.concatenate([np.full(len(p), i, dtype=np.int32) for i, p in enumerate(patches)])
        if len(feats) > max_size:
            keep = self._subsample(feats, max_size, seed)
            feats, origin = feats[keep], origin[keep]
        order = np.argsort(origin, kind="stable")
        self.features, self.origin = feats[order], origin[order]
        self._aug = np.concatenate([-2.0 * self.features, (self.features ** 2).sum(1, keepdims=True)], 1).T.copy()
        self.n_sources = len(patches)
        self._excluded: tuple[int | None, np.ndarray] = (None, self._aug)

    @staticmethod
    def _subsample(feats: np.ndarray, size: int, seed: int) -> np.ndarray:
        # greedy k-centre picks the outlying (rare) normal patches first; a seeded random fill covers the
        # dense bulk, where greedy picks add little (keeps fitting to about a second)
        n_greedy = min(size // 5, 2000)
        greedy = greedy_coreset(feats, n_greedy, seed, dims=8)
        rest = np.setdiff1d(np.arange(len(feats)), greedy)
        fill = np.random.default_rng(seed).choice(rest, size - n_greedy, replace=False)
        return np.sort(np.concatenate([greedy, fill]))

    def __len__(self) -> int:
        return len(self.features)

    def distances(self, queries: np.ndarray, exclude: int | None = None) -> np.ndarray:
        """Euclidean distance of each query row to its nearest bank patch (optionally not from ``exclude``)."""
        aug = self._aug
        if exclude is not None:
            if self._excluded[0] != exclude:       # consecutive calls often leave out the same reference
                self._excluded = (exclude, aug[:, self.origin != exclude])
            aug = self._excluded[1]
        q = np.concatenate([queries.astype(np.float32), np.ones((len(queries), 1), np.float32)], 1)
        out = np.empty(len(queries), np.float32)
        for s in range(0, len(q), CHUNK):
            out[s:s + CHUNK] = (q[s:s + CHUNK] @ aug).min(1)
        out += (queries.astype(np.float32) ** 2).sum(1)
        return np.sqrt(np.maximum(out, 0.0))

    def updated_distances(self, queries: np.ndarray, base_queries: np.ndarray, base_distances: np.ndarray,
                          exclude: int | None = None) -> np.ndarray:
        """``distances(queries, exclude)`` when ``base_distances`` are those of ``base_queries``: only the rows
        that differ from the base are searched (a pasted defect changes a few patches of its reference)."""
        changed = np.flatnonzero((queries != base_queries).any(1))
        out = base_distances.astype(np.float32).copy()
        if len(changed):
            out[changed] = self.distances(queries[changed], exclude=exclude)
        return out
