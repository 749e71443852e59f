"""Headless core of candels-gui: pure numpy / astropy / photutils / h5py.

Nothing here imports Qt or torch (a test checks it). Every action of the app is a function here first.
"""
