"""`cancerllm demo`: settings (config.py), the stages in order (stages.py), the driver and
headline (run.py), the Markdown report assembled from the stages' files (report.py)."""
