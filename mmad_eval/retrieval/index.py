"""Normal-reference retrieval: for a query image, the most similar normal images of its own category.

The pool of a (dataset, category) is a list of normal image keys given directly (``from_pools``), or,
through :mod:`mmad_eval.enhance.retrieval`, every reference image a question set names for the category.
Each image is embedded once (cached); a pool image that is missing or unreadable is left out of its pool,
recorded in ``skipped`` and warned about once, so one absent file cannot fail a whole category.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..paths import safe_join, split_key
from .embed import make_embedder


class RetrievalIndex:
    def __init__(self, data_root: Path, pools: dict[tuple[str, str], list[str]], embedder: str = "builtin"):
        self.data_root = Path(data_root)
        self.pools = {key: sorted(set(paths)) for key, paths in pools.items()}
        self.embedder_name = embedder
        self._embedder = make_embedder(embedder)
        self._cache: dict[str, np.ndarray] = {}
        self._matrices: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}
        self.skipped: list[tuple[str, str]] = []

    @classmethod
    def from_pools(cls, data_root: Path, pools: dict[tuple[str, str], list[str]],
                   embedder: str = "builtin") -> RetrievalIndex:
        return cls(data_root, pools, embedder)

    # -- embeddings ---------------------------------------------------------------------------------
    def embedding(self, key: str) -> np.ndarray:
        """The embedding of one image (a key relative to the data root); DataError naming it if unreadable."""
        if key not in self._cache:
            path = safe_join(self.data_root, key, what="image path")
            self._cache[key] = self._embedder.embed([path])[0]
        return self._cache[key]

    def _embed_batch(self, keys: list[str]) -> None:
        """Embed the uncached keys in one call (parallel/batched); on any bad file, leave them to one-by-one."""
        todo = [k for k in keys if k not in self._cache]
        try:
            vectors = self._embedder.embed([safe_join(self.data_root, k, what="image path") for k in todo])
        except DataError:
            return
        self._cache.update(zip(todo, vectors))

    def _pool_matrix(self, pool_key: tuple[str, str]) -> tuple[list[str], np.ndarray]:
        if pool_key not in self._matrices:
            self._embed_batch(self.pools.get(pool_key, []))
            keys, rows, skipped = [], [], []
            for key in self.pools.get(pool_key, []):
                try:
                    rows.append(self.embedding(key))
                    keys.append(key)
                except DataError as e:
                    skipped.append((key, str(e)))
            if skipped:
                self.skipped.extend(skipped)
                warnings.warn(f"retrieval pool {'/'.join(pool_key)}: {len(skipped)} reference image(s) left out, "
                              f"e.g. {skipped[0][1]}", stacklevel=3)
            self._matrices[pool_key] = (keys, np.stack(rows) if rows else np.zeros((0, 1), np.float32))
        return self._matrices[pool_key]

    # -- queries ------------------------------------------------------------------------------------
    def nearest(self, query_key: str, k: int) -> list[str]:
        """The k normal images of the query's own (dataset, category) pool most similar to it, best first
        (ties by path), never the query itself."""
        if k <= 0:
            return []
        pool_key = split_key(query_key)
        keys, matrix = self._pool_matrix(pool_key)
        if not keys:
            raise DataError(f"no readable normal references for {'/'.join(pool_key)} to retrieve from",
                            culprit=query_key)
        sims = matrix @ self.embedding(query_key)
        order = sorted(range(len(keys)), key=lambda i: (-float(sims[i]), keys[i]))
        return [keys[i] for i in order if keys[i] != query_key][:k]

    def describe(self) -> dict:
        return {"embedder": self.embedder_name, "pools": len(self.pools),
                "pool_images": sum(len(v) for v in self.pools.values()), "skipped": len(self.skipped)}
