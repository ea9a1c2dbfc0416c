"""cancerllm.train"""
