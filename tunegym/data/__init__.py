"""Dataset sources, preprocessing and splits (filled in by the data layer)."""

from tunegym.data._dataset import DatasetInfo, TabularDataset

__all__ = ["DatasetInfo", "TabularDataset"]
