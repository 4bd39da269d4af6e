"""The plotly family of charts: interactive figures for the dashboard and the HTML report.

``base`` holds the shared look; ``groups``, ``curves``, ``explanations``, ``safety`` and ``sites``
draw the parts of a result; ``report`` builds the figures of each chart kind the report uses,
which :mod:`cohortaudit.render.chart_registry` pairs with their static SVG twins.
"""
