"""The streamed engine types each CSV column as one whole-file read does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohortaudit.config import AuditConfig
from cohortaudit.engines.stream import stream_cohort
from cohortaudit.intake.tables import load_cohort
from cohortaudit.intake.validate import validate_cohort


def test_a_column_that_turns_to_text_in_a_later_chunk_is_read_as_text_throughout(tmp_path):
    rng = np.random.default_rng(3)
    n = 1000
    grade = np.where(rng.random(n) < 0.5, "1.50", "2.50").astype(object)
    grade[900:] = "unknown"  # only the last chunk shows that the column is text
    frame = pd.DataFrame({"y": rng.integers(0, 2, n), "p": rng.random(n).round(3), "grade": grade})
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    config = AuditConfig(label="y", score_column="p", sensitive_features=("grade",), n_boot=20)

    whole = validate_cohort(load_cohort(path)[0], config=config)
    streamed = stream_cohort(path, config=config, chunk_rows=300).cohort

    # as numbers the first chunks would say "1.5"; the whole-file read keeps the text "1.50"
    assert sorted(set(whole.groups["grade"])) == ["1.50", "2.50", "unknown"]
    assert list(streamed.groups["grade"].astype(str)) == list(whole.groups["grade"])
    assert [c.to_dict() for c in streamed.caveats] == [c.to_dict() for c in whole.caveats]
