"""`cancerllm report real`: TCGA pathology reports, cancer abstracts, SmolLM2-135M.

config.py (the recipe's settings), gold.py (registry and mention-aware gold), data.py
(the TCGA splits and the pre-training corpus), stages.py (which stages a changed setting
redoes; peak memory per stage), scoring.py (every system scored; headline.json),
report.py (report.md), run.py (`run_real`, the stages in order).
"""
