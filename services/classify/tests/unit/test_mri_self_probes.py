"""bench/mri_self_probes.py on the shipped model: every probe runs the served way and is counted."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from specimen_classify.domain.predictions import MRI_MODEL
from specimen_classify.training.defaults import PREBUILT_DIR

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
from mri_self_probes import main


def test_each_probe_counts_its_slices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(PREBUILT_DIR / MRI_MODEL), "--fresh", "6", "--probe", "3"]) == 0

    out = capsys.readouterr().out
    assert re.search(r"^fresh: [01]\.\d{3} right \(healthy [0-3] of 3, tumor [0-3] of 3;", out, re.M)
    for lesion in ("small", "multiple", "extra_axial"):
        assert re.search(rf"^{lesion}: [0-3] of 3 tumors found$", out, re.M)
    for healthy in ("template", "posterior_fossa"):
        assert re.search(rf"^healthy {healthy}: [0-3] of 3 called tumor$", out, re.M)


@pytest.mark.parametrize("option", ["--fresh", "--probe"])
def test_a_count_below_one_is_refused(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--store", str(PREBUILT_DIR / MRI_MODEL), option, "0"])

    assert refused.value.code == 2
    assert "0 is not a count of slices" in capsys.readouterr().err
