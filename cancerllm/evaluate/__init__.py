"""cancerllm.evaluate"""
