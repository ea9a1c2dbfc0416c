"""Self-contained HTML pages of runs and output files (`cancerllm view`)."""

from cancerllm.view.run import view, write_run_html

__all__ = ["view", "write_run_html"]
