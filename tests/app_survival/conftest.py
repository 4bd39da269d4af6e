"""One synthetic time-to-event audit, shared by the dashboard tests of this folder."""

from __future__ import annotations

import pytest
from tte_factory import make_result


@pytest.fixture(scope="session")
def tte(tmp_path_factory):
    """(result, path of its audit.json) of the synthetic censored cohort, 10-year horizon."""
    return make_result(tmp_path_factory.mktemp("tte"))
