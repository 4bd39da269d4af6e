"""Intake: everything between the files a third party is handed and a validated cohort.

One way in, in the order that gives the clearest error first: the audit policy, the model card
(:mod:`~cohortaudit.intake.card`), the model (:mod:`~cohortaudit.intake.model`, ONNX or skops,
never pickle), the card's test vectors (:mod:`~cohortaudit.intake.vectors`), then the cohort
table (:mod:`~cohortaudit.intake.tables`) checked by the one validator
(:mod:`~cohortaudit.intake.validate`).
"""
