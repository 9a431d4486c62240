"""Held-out generator families: evaluation data written independently of the training generators.

The training generators (:mod:`specimen_classify.domain.synthetic_mri` and
:mod:`~specimen_classify.domain.synthetic_plankton`) make the data the default models learn
from. The families here were written apart from them, from what real data look like (brain MRI
slices as scanners and PACS exports store them; plankton vignettes as EcoTaxa and the UVP,
ZooScan and FlowCam instruments store them), on different assumptions and different code, so that
a model's score on them says something about data it never saw. They are for evaluation only:
never train or select a model on them (``bench/heldout_eval.py`` scores the models on them).

:mod:`~specimen_classify.heldout.mri`: axial slices with and without tumor (``yes/``, ``no/``).
:mod:`~specimen_classify.heldout.plankton`: one crop per object, one folder per category.
"""
