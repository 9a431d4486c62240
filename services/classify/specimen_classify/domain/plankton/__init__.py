"""Plankton: the rules around the random forest, free of any ML library.

* :mod:`.segmentation` how a frame (or a training crop) is cut into objects;
* :mod:`.features` the feature contract between rows and the model;
* :mod:`.unclear` the *unclear* rule and how the trainer chooses its threshold;
* :mod:`.classify` classifying a frame or feature rows;
* :mod:`.crops` a training crop's feature row and near-duplicate groups.

Serving uses segmentation, features, unclear and classify; training also crops.
"""
