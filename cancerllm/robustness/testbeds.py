"""The robustness testbeds of the paper (section 2.5, Tables 5 and 6), as runs.

- `run_counterfactual`: fine-tune on phenotype training data with 20-80 % of the answers
  made wrong, test on the clean split (counterfactual_bed.py).
- `run_misspell`: misspell 2-80 % of the words of diagnosis and treatment test inputs,
  evaluate a model trained on clean data, and optionally show how much of the lost score
  the spelling normaliser recovers (misspell_bed.py).
- `robustness_section`: their tables and charts as Markdown for a report (report.py).

Each is what `cancerllm robust counterfactual|misspell` runs; see docs/robustness.md.
"""

from cancerllm.robustness.counterfactual_bed import run_counterfactual
from cancerllm.robustness.misspell_bed import run_misspell
from cancerllm.robustness.report import recovered_share, robustness_section

__all__ = ["run_counterfactual", "run_misspell", "robustness_section", "recovered_share"]
