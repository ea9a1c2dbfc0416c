"""cancerllm.serve"""
