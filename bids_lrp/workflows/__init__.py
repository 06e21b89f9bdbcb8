"""Nipype workflows (``init_*_wf`` factories) of the participant level."""
