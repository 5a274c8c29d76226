"""Reading the metric catalog file: the path given, or the catalog shipped in the package (the parsing and the rules
live in the pure core: headcount.core.catalog)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from headcount.core.catalog import Catalog, CatalogError, parse_catalog


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load the catalog from `path`, or the default catalog shipped in the package."""
    if path is None:
        text = resources.files("headcount").joinpath("catalog.json").read_text()
    else:
        text = Path(path).read_text()
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CatalogError(f"catalog is not JSON: {exc}") from None
    return parse_catalog(doc)
