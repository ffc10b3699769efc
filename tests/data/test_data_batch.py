import math

import torch

from bonenet.data import Sample, collate


def test_collate_pads_images_and_marks_missing_targets():
    a = Sample("a", images=torch.ones(2, 1, 4, 4, 4), clinical=torch.ones(3),
               clinical_observed=torch.ones(3), targets={"fracture": torch.tensor(1.0)})
    b = Sample("b", images=torch.ones(1, 1, 4, 4, 4), clinical=torch.zeros(3),
               clinical_observed=torch.zeros(3), targets={"event": torch.tensor(2)})
    batch = collate([a, b])
    assert len(batch) == 2 and batch.subject_ids == ["a", "b"]
    assert batch.images.shape == (2, 2, 1, 4, 4, 4)
    assert batch.image_present.tolist() == [[True, True], [True, False]]
    assert batch.images[1, 1].abs().sum() == 0
    assert batch.targets["fracture"][0] == 1 and math.isnan(batch.targets["fracture"][1])
    assert batch.targets["event"].tolist() == [-1, 2]
    moved = batch.to("cpu")
    assert moved.clinical.shape == (2, 3)
