"""How the default MRI network was chosen: a validation that is out of family *within* the
training generator, never the held-out family.

Draws ``--per-class`` slices per class from the training generator
(:mod:`specimen_classify.domain.synthetic_mri`, seed ``--seed``), crops them the serving way, and
holds one contrast family out (``--holdout``, T1 by default: the family whose lesions are the least
conspicuous). A network trains on the other families (70 / 15 / 15 split; the best epoch by
validation loss) and is scored on its own test split (in family) and on every slice of the
held-out contrast (a family it never saw). Options name the variants compared in BENCHMARKS.md:

    .venv/bin/python bench/mri_selection.py --epochs 40 --standardise --schedule cosine

Prints one JSON line per run (and per 5 epochs, the held-out-contrast accuracy). Uses two
threads; run it with ``nice``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def draw(per_class: int, seed: int) -> dict[str, np.ndarray]:
    from specimen_classify.domain import synthetic_mri
    from specimen_classify.domain.preprocessing import brain_crop, model_input
    from specimen_kit.errors import Problem

    inputs, targets, contrasts = [], [], []
    for index in range(per_class):
        for tumor in (True, False):
            drawn = synthetic_mri.mri_slice((seed, int(tumor), index), tumor, synthetic_mri.DEFAULT_SIZE)
            try:
                crop = brain_crop(drawn.image)
            except Problem:
                continue
            inputs.append(model_input(crop, 64))
            targets.append(int(tumor))
            contrasts.append(drawn.contrast)
    return {"x": np.stack(inputs), "y": np.asarray(targets, np.float32), "contrast": np.asarray(contrasts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", default="T1", help="contrast family left out of training")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--standardise", action="store_true", help="per-image standardisation layer")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--augmentation", choices=("standard", "strong"), default="standard")
    args = parser.parse_args()

    import tensorflow as tf  # type: ignore[import-untyped,unused-ignore]

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras  # type: ignore[import-untyped,unused-ignore]

    from specimen_classify.training import mri

    data = draw(args.per_class, args.seed)
    x, y, contrast = data["x"], data["y"], data["contrast"]
    order = np.random.default_rng(0).permutation(len(x))
    held = order[contrast[order] == args.holdout]
    rest = order[contrast[order] != args.holdout]
    n = len(rest)
    train, val, test = rest[: int(0.7 * n)], rest[int(0.7 * n) : int(0.85 * n)], rest[int(0.85 * n) :]
    model = mri._build_gap64(standardise=args.standardise)
    model.compile(optimizer=keras.optimizers.Adam(mri.LEARNING_RATE),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    augment = mri.augmented_strong if args.augmentation == "strong" else mri.augmented
    rng = np.random.default_rng(1)

    def accuracy(index: np.ndarray, flips: bool = False) -> float:
        views = [x[index]]
        if flips:  # the mean logit of the four flipped views
            views += [x[index][:, :, ::-1], x[index][:, ::-1], x[index][:, ::-1, ::-1]]
        logits = np.mean([model.predict(np.ascontiguousarray(v)[..., None], batch_size=256,
                                        verbose=0).reshape(-1) for v in views], axis=0)
        return float(((logits > 0) == (y[index] > 0.5)).mean())

    best = (np.inf, 0, model.get_weights())
    started = time.monotonic()
    for epoch in range(args.epochs):
        model.optimizer.learning_rate.assign(mri.learning_rate(epoch, args.epochs, args.schedule))
        fitted = model.fit(augment(x[train], rng)[..., None], y[train],
                           validation_data=(x[val][..., None], y[val]),
                           epochs=epoch + 1, initial_epoch=epoch, batch_size=32, verbose=0)
        loss = fitted.history["val_loss"][-1]
        if loss < best[0]:
            best = (loss, epoch + 1, model.get_weights())
        if (epoch + 1) % 5 == 0:
            print(json.dumps({"epoch": epoch + 1, "val_loss": round(loss, 4),
                              f"{args.holdout}_accuracy": accuracy(held)}), flush=True)
    model.set_weights(best[2])
    print(json.dumps({**vars(args), "best_epoch": best[1], "own_test_accuracy": accuracy(test),
                      f"held_out_{args.holdout}_accuracy": accuracy(held),
                      "own_test_accuracy_flip_views": accuracy(test, flips=True),
                      f"held_out_{args.holdout}_accuracy_flip_views": accuracy(held, flips=True),
                      "seconds": round(time.monotonic() - started)}))


if __name__ == "__main__":
    main()
