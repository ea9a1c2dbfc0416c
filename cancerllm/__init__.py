"""cancerllm: build, evaluate and serve a small cancer-domain language model on your own notes."""

__version__ = "0.1.0"

from cancerllm.offline import enforce_offline as _enforce_offline
from cancerllm.runtime import configure_cpu_runtime as _configure_cpu_runtime

_enforce_offline()
_configure_cpu_runtime()
