"""cancerllm.tasks"""
