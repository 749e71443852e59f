"""Generative deep fields: a spatial GAN (SGAN) that makes synthetic fields of any size, by tessellation.

Lives here: the intensity scaling of a field and its inverse (:mod:`.scaling`, numpy), the spatial noise
drawn block by block from a seed (:mod:`.noise`, numpy), the networks (:mod:`.sgan`: a fully convolutional
generator fed a spatial noise tensor, Jetchev et al. 2016; a fully convolutional discriminator with a map
of real/fake logits, as in Smith & Geach 2019), training (:mod:`.training`) and generation tile by tile
straight into a FITS file (:mod:`.generate`).

May import: :mod:`candels_gui.core` and :mod:`candels_gui.torch_common`. Never gui, evaluation or another
model family. torch is imported by :mod:`.sgan`, :mod:`.training` and :mod:`.generate` only, which nothing
imports until a field is trained or generated: importing this package costs nothing.
"""
