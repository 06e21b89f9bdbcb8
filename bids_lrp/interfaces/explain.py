"""The model node's interfaces: `ExplainImages` runs `bids_lrp.explain.explain_images` on a
participant's images; `SelectImage` hands one image's share of its outputs to its own branch.
"""

from __future__ import annotations

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)


class _ExplainInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(File(exists=True), mandatory=True, desc="template-space T1w")
    model_path = File(exists=True, mandatory=True)
    model_sha256 = traits.Str("", usedefault=True)
    methods = traits.List(traits.Str, mandatory=True)
    target_class = traits.Str(mandatory=True, desc="a class name or 'predicted'")
    method_targets = traits.Dict(
        traits.Str, traits.Str, usedefault=True, desc="method -> its own target class"
    )
    device = traits.Str("cpu", usedefault=True)
    threads = traits.Int(1, usedefault=True)
    batch_size = traits.Range(low=1, value=2, usedefault=True)
    template = traits.Str(desc="the images' template (default: the model card's)")
    atlas = traits.Str("", usedefault=True, desc="atlas of occlusion and faithfulness")
    faithfulness_steps = traits.Int(0, usedefault=True, desc="areas removed per order (0: off)")
    randomization = traits.Enum(
        "", "dense", "cascade", usedefault=True, desc="the randomization check ('': off)"
    )


class _ExplainOutputSpec(TraitedSpec):
    relevance = traits.List(traits.List(File(exists=True)), desc="per image, one per method")
    predictions = traits.List(File(exists=True), desc="per image")
    metadata = traits.List(traits.List(traits.Dict), desc="per image, one per method")
    faithfulness = traits.List(traits.List(traits.Str), desc="per image: the curves' TSV or []")


class ExplainImages(SimpleInterface):
    """Classify and explain a participant's images in batches (`explain_images`)."""

    input_spec = _ExplainInputSpec
    output_spec = _ExplainOutputSpec

    def _run_interface(self, runtime):
        # Deferred: only the model node loads torch; the workflow builder and the other nodes'
        # processes never need it (seconds and hundreds of MB each).
        from bids_lrp.explain import explain_images

        i = self.inputs
        self._results.update(
            explain_images(
                list(i.in_files),
                i.model_path,
                i.model_sha256,
                list(i.methods),
                i.target_class,
                method_targets=dict(i.method_targets),
                device=i.device,
                threads=i.threads,
                batch_size=i.batch_size,
                out_dir=runtime.cwd,
                template=i.template or None,
                atlas=i.atlas or None,
                faithfulness_steps=i.faithfulness_steps,
                randomization=bool(i.randomization),
                randomization_layers=i.randomization or "dense",
            )
        )
        return runtime


class _SelectInputSpec(BaseInterfaceInputSpec):
    index = traits.Int(mandatory=True, desc="position of the image in the batch")
    relevance = traits.List(traits.List(File(exists=True)), mandatory=True)
    predictions = traits.List(File(exists=True), mandatory=True)
    metadata = traits.List(traits.List(traits.Dict), mandatory=True)
    faithfulness = traits.List(traits.List(traits.Str), mandatory=True)


class _SelectOutputSpec(TraitedSpec):
    relevance = traits.List(File(exists=True))
    predictions = File(exists=True)
    metadata = traits.List(traits.Dict)
    faithfulness = traits.List(traits.Str, desc="the curves' TSV, or empty")


class SelectImage(SimpleInterface):
    """One image's relevance maps, predictions and metadata out of `ExplainImages`."""

    input_spec = _SelectInputSpec
    output_spec = _SelectOutputSpec

    def _run_interface(self, runtime):
        i = self.inputs.index
        for key in ("relevance", "predictions", "metadata", "faithfulness"):
            self._results[key] = getattr(self.inputs, key)[i]
        return runtime
