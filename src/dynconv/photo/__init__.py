"""The photo tool: ``dynconv.upscale`` and ``dynconv upscale`` on real photos, faithfully.

* :mod:`~dynconv.photo.api` — ``dynconv.upscale`` (a file, a PIL image or an array);
* :mod:`~dynconv.photo.strips` — the engine (:func:`~dynconv.photo.strips.run`): colour, MATLAB
  bicubic, network and merge in strips; :mod:`~dynconv.photo.networks` — the networks it runs
  (bicubic, a whole-channel callable, static tiles, dynamic windows) behind one interface;
* :mod:`~dynconv.photo.io`, :mod:`~dynconv.photo.png16`, :mod:`~dynconv.photo.tiff16` — photos in
  and out at full bit depth, with alpha, profile, density and orientation;
* :mod:`~dynconv.photo.auto` — ``--model auto``'s table; :mod:`~dynconv.photo.upscale_cmd` — the command.

Above :mod:`dynconv.sr`; it never imports :mod:`dynconv.training`.
"""
