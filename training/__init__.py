"""Offline training pipeline of dtd_ik (importable as ``dtd_ik.training``).

It imports the runtime (:mod:`dtd_ik.robot`, :mod:`dtd_ik.kinematics`, the network file contract
of :mod:`dtd_ik.solver.network`), never the other way round. One training stage:

- ``config``: the YAML -> :class:`~.config.TrainConfig` tree (read by :mod:`dtd_ik.config_files`);
- ``samples``: training samples and their sources (on-the-fly sampler, ``generate_dataset`` file);
  ``dataset`` writes that file;
- ``network``: the residual MLP; ``objective``: the paper's task losses and the split metrics;
- ``weighting``: the six loss-weighting strategies; ``schedule``: learning-rate schedules;
- ``builder`` -> ``trainer`` (the loop, checkpoints via ``checkpoint``, logs via ``run_log``,
  DDP via ``distributed``; one optimiser step eager, compiled or as a CUDA graph via ``step``;
  the end of a stage when validation stops improving via ``early_stop``) -> ``export``
  (TorchScript file + model card); ``half_weights`` packs a run's network as float16 for
  transport and back.

Project tooling on top: ``evaluate`` (Table II), ``compare`` (Table I, plotted by ``figures``),
``ship`` (into ``models/``), ``campaign`` (timed runs on one device), ``results``
(docs/RESULTS.md). ``commands`` holds one thin module per console script.
"""
