"""The serving package's Ledoit-Wolf covariance equals scikit-learn's (which it may not import)."""

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from specimen_classify.domain.familiarity import ledoit_wolf_covariance


@pytest.mark.parametrize(("samples", "features"), [(50, 10), (20, 64), (300, 128)])
def test_matches_scikit_learn(samples: int, features: int) -> None:
    rng = np.random.default_rng(samples)
    x = rng.normal(size=(samples, features)) * rng.uniform(0.1, 3, size=features)
    x -= x.mean(axis=0)
    expected, _ = ledoit_wolf(x, assume_centered=True)
    np.testing.assert_allclose(ledoit_wolf_covariance(x), expected, rtol=1e-10, atol=1e-12)


def test_a_dead_feature_still_gives_an_invertible_covariance() -> None:
    x = np.random.default_rng(1).normal(size=(30, 5))
    x[:, 2] = 0.0
    x -= x.mean(axis=0)
    assert np.all(np.linalg.eigvalsh(ledoit_wolf_covariance(x)) > 0)
