"""cancerllm.data"""
