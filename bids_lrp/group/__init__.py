"""Group level: read every participant's outputs and aggregate them (Böhle et al. 2019).

``collect`` finds the participant outputs, ``labels`` reads the diagnoses, ``readers`` and
``niftistream`` read the tables and maps fast, ``cohort`` joins them per image; ``tables``,
``metrics`` and ``fingerprints`` are the (pure) science, ``maps`` streams the relevance maps
into group means; ``products`` and ``write`` write ``<out>/group/`` and ``run`` orchestrates.
"""
