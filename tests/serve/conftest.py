import pytest


@pytest.fixture(scope="session")
def engine(lively_model_dir):
    """One loaded engine for the serve tests; new tokens capped to keep CPU time low."""
    from cancerllm.serve.engine import Engine
    return Engine.load(lively_model_dir, device="cpu", batch_size=8, max_new_tokens=12)
