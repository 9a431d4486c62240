"""Trainers of the classify models: the only code of the service that imports TensorFlow, Keras,
scikit-learn or matplotlib (install the ``train`` extra). Serving loads their artifacts through
:mod:`specimen_classify.adapters` without them.
"""
