"""Intake: everything between the files a third party is handed and a validated cohort.

One way in, :func:`cohortaudit.intake.inputs.load_inputs`, in the order that gives the clearest
error first: the audit policy, the model card (:mod:`~cohortaudit.intake.card`), the model
(:mod:`~cohortaudit.intake.model`, ONNX or skops, never pickle), the card's test vectors
(:mod:`~cohortaudit.intake.vectors`), then the cohort table (:mod:`~cohortaudit.intake.tables`)
checked by the one validator (:mod:`~cohortaudit.intake.validate`, with the column parsers of
:mod:`~cohortaudit.intake.columns`, the whole-cohort rules and caveat words of
:mod:`~cohortaudit.intake.rules`, the outcome checks of :mod:`~cohortaudit.intake.outcome` --
time-to-event horizon and the binary-label guard -- and the feature sample of
:mod:`~cohortaudit.intake.sample`).

Imports point down: ``files`` <- ``model``, ``tables``; ``columns`` <- ``rules`` <- ``outcome``
<- ``validate`` (with ``sample``) <- ``inputs``, which alone imports the policy, card, model and
vectors.
"""
