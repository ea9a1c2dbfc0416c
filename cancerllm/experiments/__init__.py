"""End-to-end experiments that chain the pipeline's stages: the demo (`cancerllm demo`,
`experiments.demo`) and the real-data report (`cancerllm report real`, `experiments.real`)."""
