"""cancerllm.robustness"""
