"""Specimen's object pipeline, one definition shared by the segment and classify services.

Image bytes ⇄ pixels (:mod:`~specimen_imaging.codecs`), thresholding
(:mod:`~specimen_imaging.thresholding`), connected objects (:mod:`~specimen_imaging.objects`)
and their versioned measurements (:mod:`~specimen_imaging.measurements`), composed once in
:func:`specimen_imaging.extraction.extract_objects`. Segment serves these measurements and the
plankton classifier trains and predicts on them, so the features a model was trained on are the
features it is asked about. Pure functions on arrays; no web framework, no database.
"""
