"""cancerllm.baselines"""
