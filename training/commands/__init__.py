"""The console commands of the training pipeline, one thin module per script.

Each module parses its arguments, makes one call into the library modules of
:mod:`dtd_ik.training` and turns a :class:`~dtd_ik.exceptions.DtdIkError` into one line on
stderr and an exit code; ``python -m dtd_ik.training.commands.<name>`` runs it too.
"""
