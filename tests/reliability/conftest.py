import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Torch on one thread here: the same arithmetic in and out of process (the kill tests
    compare a subprocess with in-process runs), and no spinning threads fighting over a
    shared 2-core machine, which makes tiny models many times slower."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    """The session's tiny model behind an Engine, two new tokens per answer: cheap to call often."""
    from cancerllm.serve.engine import Engine
    return Engine.load(tiny_model_dir, device="cpu", batch_size=8, max_new_tokens=2)
