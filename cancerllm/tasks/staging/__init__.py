"""Report-level staging and biomarker labels (pT, pN, M, grade, ER, PR, HER2)."""
