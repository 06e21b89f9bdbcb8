"""The model node: a participant's images classified and explained in batches."""

from __future__ import annotations

from collections.abc import Sequence

from nipype.pipeline import engine as pe

from bids_lrp.interfaces.explain import ExplainImages

#: Images per forward/backward pass: CPU throughput grows ~1.7x from 1 to 2 (benchmarks/);
#: 2 keeps the full-size peak memory near the 3 GB budget.
BATCH_SIZE = 2


def init_model_node(
    *,
    model: str,
    model_sha256: str,
    methods: Sequence[str],
    target_class: str,
    n_images: int,
    method_targets: dict[str, str] | None = None,
    device: str = "cpu",
    omp_nthreads: int = 1,
    batch_size: int = BATCH_SIZE,
    template: str = "",
    atlas: str = "",
    faithfulness_steps: int = 0,
    randomization: str = "",
    name: str = "explain",
) -> pe.Node:
    """The node that loads the model once and classifies and explains a participant's images.

    Inputs: ``in_files`` (template-space images). Outputs: per image, ``relevance`` (one map
    per method), ``predictions`` and ``metadata``; `init_tables_wf` takes one image's share.
    """
    per_batch = min(n_images, batch_size)
    return pe.Node(
        ExplainImages(
            model_path=model,
            model_sha256=model_sha256,
            methods=list(methods),
            target_class=target_class,
            method_targets=dict(method_targets or {}),
            device=device,
            threads=omp_nthreads,
            batch_size=batch_size,
            template=template,
            atlas=atlas,
            faithfulness_steps=faithfulness_steps,
            randomization=randomization,
        ),
        name=name,
        n_procs=omp_nthreads,
        mem_gb=1.0 + 1.0 * per_batch,
    )
