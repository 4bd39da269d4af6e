"""One builder per report chapter: ``chapter(result) -> list[Section]`` in each module.

The builders write no numbers; :mod:`cohortaudit.render.report` orders the chapters and
:mod:`cohortaudit.render.numbering` numbers them.
"""
