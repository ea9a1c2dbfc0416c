"""Multi-process tests: each starts real `accelerate launch` runs on CPU processes (gloo)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "distributed: launches several CPU processes (gloo); runs in CI")
