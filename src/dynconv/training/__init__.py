"""Training: configs, batches of sub-images, the loop with its crash-safe checkpoints, run logs,
warm starts, and ``dynconv retrain``. Above :mod:`dynconv.sr`; the photo tool never imports it.

* :mod:`~dynconv.training.config` — the TOML schema; :mod:`~dynconv.training.train` — ``dynconv train``'s loop;
* :mod:`~dynconv.training.subimages` (the training examples: SRCNN's sub-images, cut and cached) and
  :mod:`~dynconv.training.batches` (the one batch source: sub-images every ``stride`` pixels, or at
  random positions at any factor, with one ``scale_weights``);
* :mod:`~dynconv.training.objective` (the loss), :mod:`~dynconv.training.checkpointer`,
  :mod:`~dynconv.training.runlog`, :mod:`~dynconv.training.warmstart`;
* :mod:`~dynconv.training.retrain`, :mod:`~dynconv.training.retrain_report`, :mod:`~dynconv.training.retrain_cmd`.
"""
