"""cancerllm.models"""
