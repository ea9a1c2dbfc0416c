import pytest

from tests.serve.lively import make_lively_model


@pytest.fixture(scope="session")
def lively_model_dir(tiny_model_dir, tmp_path_factory):
    return make_lively_model(tiny_model_dir, tmp_path_factory.mktemp("lively_model"))


@pytest.fixture(scope="session")
def engine(lively_model_dir):
    """One loaded engine for the serve tests; new tokens capped to keep CPU time low."""
    from cancerllm.serve.engine import Engine
    return Engine.load(lively_model_dir, device="cpu", batch_size=8, max_new_tokens=12)
