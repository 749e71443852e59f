"""Making blends: cleaning, specs and the engine, sampling rules, labels, blend metrics and catalogues.

Lives here: neighbour cleaning of each stamp (:mod:`.cleaning`); :class:`~.engine.BlendSpec`, the
:class:`~.engine.BlendEngine` that renders a spec into a blend, its isolated galaxies and masks
(:mod:`.engine`); candels-blender's sampling rules and seeded spec draws (:mod:`.sampling`); the label methods
``gg_masks``, ``ogg_masks``, ``bogg_masks``, ``single_images`` (:mod:`.labels`); how blended a blend is
(:mod:`.blend_metrics`); the one-row-per-blend catalogue (:mod:`.catalogue`).

May import: :mod:`candels_gui.core.data` and the root modules of core. Never ``store``, ``curation``,
``measure`` or ``display``, Qt or torch.
"""
