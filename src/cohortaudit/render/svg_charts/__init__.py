"""The static (SVG) family of charts, for the PDF: matplotlib figures written as SVG.

``performance`` (ROC, calibration, decision curve, disparities), ``checks`` (explanations and
safety) and ``sites`` (pooled audits); :mod:`cohortaudit.render.chart_registry` pairs each
with its interactive plotly twin.
"""
