"""Training-batch order: length-grouped batches served in a random order.

Why: `group_by_length` (transformers' `LengthGroupedSampler`) sorts each mega-batch of 50
batches by length, longest first. When the tasks of a multi-task run differ in length
(phenotype answers ~75 tokens, diagnoses and plans ~230), each mega-batch then serves all
its long-task batches and then all its short-task ones: the tasks arrive in blocks of tens
of steps, and the loss curve of the demo's instruction tuning showed the resulting
saw-tooth (each block undoing part of the last). Shuffling the order of the finished
batches keeps their low padding and interleaves the tasks step by step.

Hand-written (a few lines on top of transformers' own grouping) because neither torch nor
transformers offers a bucketed sampler with shuffled batch order.
"""

from __future__ import annotations

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices


class ShuffledLengthGroupedSampler(LengthGroupedSampler):
    """`LengthGroupedSampler` whose batches come in a random order (the longest stays first,
    as transformers places it, so an out-of-memory error shows at the first step).

    Deterministic under the Trainer's seed (the same torch generator draws, in the same
    order, on a resumed run), so resuming from a checkpoint skips exactly the batches the
    interrupted run had trained on.
    """

    def __iter__(self):
        indices = get_length_grouped_indices(self.lengths, self.batch_size, generator=self.generator)
        batches = [indices[i:i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        if len(batches) <= 2:
            return iter(indices)
        rest = batches[1:]
        order = torch.randperm(len(rest), generator=self.generator).tolist()
        return iter(batches[0] + [i for k in order for i in rest[k]])
