"""GraphTable cuts the same batches PyG's own collation makes."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from toposci.domains.generative._graph_table import GraphTable
from toposci.domains.qm9 import QM9


@pytest.fixture(scope="module")
def qm9() -> QM9:
    return QM9(split="train")[:300]


def test_batches_equal_pyg_collation(qm9: QM9) -> None:
    extra = {"tag": torch.arange(len(qm9)) * 10}
    table = GraphTable.from_data_list(list(qm9), extra)
    assert len(table) == 300
    idx = torch.tensor([250, 3, 17, 4])
    got = table.batch(idx)
    expected = Batch.from_data_list([qm9[i] for i in sorted(idx.tolist())])
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
        assert torch.equal(got[key], expected[key]), key
    assert got.num_graphs == 4 and got.tag.tolist() == [30, 40, 170, 2500]


def test_bad_indices(qm9: QM9) -> None:
    table = GraphTable.from_data_list(list(qm9))
    with pytest.raises(ValueError, match="zero graphs"):
        table.batch(torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 300\)"):
        table.batch(torch.tensor([300]))
    with pytest.raises(ValueError, match="rows"):
        GraphTable.from_data_list(list(qm9), {"t": torch.zeros(3)})
