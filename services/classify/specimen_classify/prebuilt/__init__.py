"""Model versions shipped with the package, one folder per model name.

``mri-tumor/`` is the default MRI model: ``python -m specimen_classify build-prebuilt-mri``
(``make prebuilt-mri``) trains it on slices of :mod:`specimen_classify.domain.synthetic_mri`, and
``bootstrap-models`` copies it into a store that has no MRI model
(:mod:`specimen_classify.training.defaults`). Its ``card.json`` says how it was made.
"""
