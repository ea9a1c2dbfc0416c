"""A tiny model whose greedy outputs vary with the input (for invariance tests).

The session's random tiny Mistral (`tiny_model_dir`) tends to repeat one token whatever
the prompt, so "batched == one at a time" would hold trivially. Re-drawing its weights
with a larger spread gives different, still deterministic, outputs per prompt (and some
early end-of-sequence tokens).
"""

from __future__ import annotations

from pathlib import Path

NOTES = [
    "Reason for Visit: follow-up of left breast cancer.\nTreatment Site: left breast.\n"
    "Subjective: feels well. No pain.\nObjective: no palpable mass.\nLaboratory Results: CBC normal.\n"
    "Diagnosis: invasive ductal carcinoma of the left breast, ER positive, PR positive, HER2 negative.\n"
    "Assessment: stable.\nPlan: continue letrozole 2.5 mg daily; follow up in 3 months.",
    "REASON FOR VISIT: new consult.\nHPI: 64 yo with a 2.3 cm mass in the right upper lobe. Biopsy showed "
    "adenocarcinoma, grade 2.\nPhysical Exam: lungs clear.\nLabs: Hb 12.1.\nImpression: stage IIA.\n"
    "Plan: refer to thoracic surgery.",
    "Tumor size 1.8 cm, grade 3, stage IIIB squamous cell carcinoma of the sigmoid colon.",
    "PSA 4.2 ng/mL. Dr. Smith reviewed the prostate MRI. Melanoma of the right arm vs. nevus?",
    "ER/PR negative, HER2 3+. Invasive ductal carcinoma, right breast.",
]


def make_lively_model(src: str | Path, out: str | Path, std: float = 0.3, seed: int = 1) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(str(src), local_files_only=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.copy_(torch.randn(param.shape, generator=gen) * std)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(src), local_files_only=True).save_pretrained(str(out))
    return Path(out)
