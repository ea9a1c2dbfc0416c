"""Label schemas shared by the data, task, model, baseline and evaluation code.

A leaf package: it imports nothing else from cancerllm, so any package may import it.
`staging`: report-level staging and biomarker labels (pT, pN, M, grade, ER, PR, HER2).
"""
