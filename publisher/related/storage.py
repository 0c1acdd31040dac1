"""The related index on disk: sparse matrices and a JSON header in one .npz file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from publisher.files import atomic_write


def sparse_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """The three arrays of a CSR matrix, named for `sparse_from`."""
    return {
        f"{name}_data": matrix.data,
        f"{name}_indices": matrix.indices,
        f"{name}_indptr": matrix.indptr,
    }


def sparse_from(saved: dict[str, Any], name: str, *, columns: int) -> sp.csr_matrix:
    """The CSR matrix `sparse_arrays` saved under `name`."""
    indptr = saved[f"{name}_indptr"]
    shape = (len(indptr) - 1, columns)
    return sp.csr_matrix((saved[f"{name}_data"], saved[f"{name}_indices"], indptr), shape=shape)


def write_arrays(path: Path, meta: dict[str, Any], **arrays: np.ndarray) -> None:
    """Save arrays and a JSON-able header, atomically."""
    header = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    atomic_write(path, lambda handle: np.savez(handle, meta=header, **arrays))


def read_arrays(path: Path) -> dict[str, Any] | None:
    """What `write_arrays` saved (the header decoded under "meta"), or None if there is no file."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as saved:
        data = {key: saved[key] for key in saved.files}
    data["meta"] = json.loads(data["meta"].tobytes())
    return data
