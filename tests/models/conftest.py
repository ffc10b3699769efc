import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # the CI machine has 2 cores shared by many processes: avoid oversubscription
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
