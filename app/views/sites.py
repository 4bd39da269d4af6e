"""Sites: a pooled multi-site audit's per-site metrics and random-effects meta-analysis."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import components
from cohortaudit.registry import label
from cohortaudit.render.plotly_charts.sites import (
    SITE_FOREST_METRICS,
    site_forest_plot,
    site_table_rows,
)

_LABELS = {k: label(k) for k in ("auroc", "oe_ratio", "calibration_slope")}
_HOW_TO = """\
Each data holder runs, inside its own secure environment (here: the bundled sample's 4 sites):

```bash
cohortaudit site-export --model sample_data/model.onnx --card sample_data/model.card.yaml \\
  --cohort sample_data/cohort.csv --label cvd_10y \\
  --sensitive sex age ethnicity deprivation site --bins age=40,50,60,70,80 \\
  --site DE-Berlin --where site=DE-Berlin --out sites/DE-Berlin.json
```

and the coordinator pools the site files (only aggregates travel):

```bash
cohortaudit pool sites/*.json --out out/pooled --format json,pdf,html
```

Then open `out/pooled/audit.json` on *Start a new audit* → "An audit result (audit.json)" to see this page.
"""

result = components.page_with_result("Sites and heterogeneity")
sites = result.sites_view
if sites is None or not sites.raw:
    st.info(
        "This audit is single-site: it was computed on one cohort, so there is nothing to "
        "compare between sites. A multi-site audit pools aggregate exports of several sites."
    )
    st.markdown(_HOW_TO)
    st.stop()

pooled = sites.pooled
bound = pooled.get("auroc_bin_error_bound")
st.caption(
    f"{sites.n_sites} sites pooled from aggregate site files. AUROC from binned scores"
    + (f" (error at most {bound:.4f} for all patients)" if bound is not None else "")
    + "; CITL and slope from a federated Newton fit on binned logits; heterogeneity by "
    "DerSimonian–Laird random effects."
)


def _ci(row: dict, key: str, digits: int = 3) -> str:
    v = row.get(key)
    if v is None:
        return "n/a"
    lo, hi = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if lo is None or hi is None:
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


rows = site_table_rows(result)
table = pd.DataFrame(
    [
        {
            "Site": r["site"],
            "Patients": r["n"],
            "Events": r["events"],
            "AUROC (95% CI)": _ci(r, "auroc"),
            "O/E (95% CI)": _ci(r, "oe_ratio", 2),
            "CITL (95% CI)": _ci(r, "citl", 2),
            "Slope (95% CI)": _ci(r, "calibration_slope", 2),
            "Sensitivity (95% CI)": _ci(r, "sensitivity"),
        }
        for r in rows
    ]
)
st.subheader("Each site")
st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Random-effects meta-analysis")
meta = pd.DataFrame(
    [
        {
            "Metric": _LABELS.get(m["metric"], m["metric"]),
            "Sites": m["n_sites"],
            "Pooled (95% CI)": _ci(
                {
                    "x": m["estimate"]["value"],
                    "x_ci_low": m["estimate"]["ci_low"],
                    "x_ci_high": m["estimate"]["ci_high"],
                },
                "x",
            ),
            "τ²": m["tau2"],
            "I²": None if m["i2"] is None else f"{100 * m['i2']:.0f}%",
            "95% prediction interval": (
                "needs ≥ 3 sites"
                if m["prediction_interval"]["low"] is None
                else f"{m['prediction_interval']['low']:.3f}–{m['prediction_interval']['high']:.3f}"
            ),
        }
        for m in sites.meta_analysis
    ]
)
st.dataframe(meta, hide_index=True, width="stretch")

for metric in SITE_FOREST_METRICS:
    st.plotly_chart(
        site_forest_plot(result, metric=metric),
        width="stretch",
        key=f"site_forest_{metric}",
    )
st.caption(
    "Squares: each site with its 95% CI. Diamond: the random-effects estimate with its 95% CI. "
    "Bar: the 95% prediction interval for a new site. Sites are also a subgroup: see the "
    "Subgroups page for 'site'."
)
