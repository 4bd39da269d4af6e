"""Runs inside .venv-oracle (scikit-survival + lifelines); never imported by cohortaudit.

stdin: a JSON list of cases {time, event, risk, tau, [shift], [basis], [thresholds]}.
stdout: one JSON object per case with the oracles' numbers. ``shift`` > 0 moves every censored
time by +shift and evaluates at tau + shift/2: an infinitesimal tie-break that makes
scikit-survival's conventions (G(t), controls T > t, Uno's T_i < tau) express ours (events
before censorings, G(t-), censored at tau event-free at tau, events at tau by tau).
"""

import json
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
# lifelines' default Newton stopping rule (precision 1e-7 on the step) leaves the score at
# ~4e-3 and the coefficient ~2e-5 from the maximum; statsmodels' Newton reaches a score of
# ~1e-14. Tighten lifelines so both report the maximum likelihood estimate.
TIGHT = {"precision": 1e-12, "max_steps": 500}


def versions():
    import lifelines
    import pandas
    import sklearn
    import sksurv

    return {
        "scikit-survival": sksurv.__version__,
        "lifelines": lifelines.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pandas.__version__,
        "numpy": np.__version__,
    }


def one(case):
    import pandas as pd
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.utils import concordance_index
    from sksurv.metrics import (
        brier_score,
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
    )
    from sksurv.nonparametric import kaplan_meier_estimator
    from sksurv.util import Surv

    if case.get("versions"):
        return versions()
    t = np.asarray(case["time"], float)
    e = np.asarray(case["event"], bool)
    r = np.asarray(case["risk"], float)
    tau = float(case["tau"])
    shift = float(case.get("shift", 0.0))
    ts = np.where(e, t, t + shift)
    tau_s = tau + shift / 2
    y = Surv.from_arrays(e, ts)
    out = {}
    e_tr = e & (t <= tau)
    if e_tr.any():
        out["harrell_sksurv"] = concordance_index_censored(e_tr, ts, r, tied_tol=1e-8)[0]
        out["uno_sksurv"] = concordance_index_ipcw(y, y, r, tau=tau_s, tied_tol=1e-8)[0]
        out["auc_sksurv"] = float(cumulative_dynamic_auc(y, y, r, [tau_s], tied_tol=1e-8)[0][0])
        if shift == 0.0:
            out["harrell_lifelines"] = concordance_index(t, -r, e_tr)
    out["brier_sksurv"] = float(brier_score(y, y, 1.0 - r, [tau_s])[1][0])
    # Kaplan-Meier at tau, log(-log) Greenwood interval: lifelines and sksurv
    kmf = KaplanMeierFitter(alpha=0.05).fit(t, e)
    out["km_lifelines"] = float(kmf.survival_function_at_times(tau).iloc[0])
    ci = kmf.confidence_interval_survival_function_
    row = ci[ci.index <= tau].iloc[-1]
    out["km_ci_lifelines"] = [float(row.iloc[0]), float(row.iloc[1])]
    times, prob, conf = kaplan_meier_estimator(e, t, conf_type="log-log")
    i = np.searchsorted(times, tau, side="right") - 1
    out["km_sksurv"] = float(prob[i])
    out["km_ci_sksurv"] = [float(conf[0][i]), float(conf[1][i])]
    # Cox slope on cloglog(r), follow-up truncated at tau (lifelines: Efron ties, Newton)
    tt, et = np.minimum(t, tau), e_tr
    if et.any():
        x = np.log(-np.log1p(-np.clip(r, 1e-8, 1 - 1e-8)))
        df = pd.DataFrame({"T": tt, "E": et.astype(int), "x": x})
        cph = CoxPHFitter().fit(df, "T", "E", fit_options=TIGHT)
        out["slope_lifelines"] = float(cph.params_["x"])
        out["slope_se_lifelines"] = float(cph.standard_errors_["x"])
        if "basis" in case:
            b = np.asarray(case["basis"], float)
            cols = [f"b{j}" for j in range(b.shape[1])]
            dfb = pd.DataFrame(b, columns=cols)
            dfb["T"], dfb["E"] = tt, et.astype(int)
            cphb = CoxPHFitter().fit(dfb, "T", "E", fit_options=TIGHT)
            sf = cphb.predict_survival_function(dfb[cols], times=[tau])
            out["flex_observed_lifelines"] = (1.0 - sf.to_numpy()[0]).tolist()
    # Decision curve: lifelines KM among the treated
    if "thresholds" in case:
        s_all = out["km_lifelines"]
        nb, nb_all = [], []
        for th in case["thresholds"]:
            sub = r >= th
            odds = th / (1 - th)
            nb_all.append((1 - s_all) - s_all * odds)
            if not sub.any():
                nb.append(0.0)
                continue
            s = float(
                KaplanMeierFitter().fit(t[sub], e[sub]).survival_function_at_times(tau).iloc[0]
            )
            p = float(sub.mean())
            nb.append(p * (1 - s) - p * s * odds)
        out["nb_lifelines"], out["nb_all_lifelines"] = nb, nb_all
    # reverse Kaplan-Meier median follow-up
    out["median_fu_lifelines"] = float(KaplanMeierFitter().fit(t, ~e).median_survival_time_)
    return out


print(json.dumps([one(c) for c in json.load(sys.stdin)]))
