"""Using a trained model: one note, a file of notes, or an HTTP service (system stage 8).

- `notes`: what a note asks of the model (sentences with offsets, task contexts, results);
- `engine`: a loaded model + adapters answering task prompts with batched generation;
- `infer`: extract / diagnose / plan one note (CLI `cancerllm extract|diagnose|plan`);
- `predict`: a JSONL file of notes, resumable, with error entries (`cancerllm predict`);
- `http`: the FastAPI service with micro-batching (`cancerllm serve`).
Heavy libraries are imported inside functions so `cancerllm --help` stays fast.
"""
