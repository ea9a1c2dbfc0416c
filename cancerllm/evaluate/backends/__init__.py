"""Generation backends beside the Hugging Face one (`cancerllm.evaluate.predictions`): vLLM."""
