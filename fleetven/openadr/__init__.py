"""The OpenADR 2.0b vocabulary: the message model, XML namespaces and time formats.

Data and pure functions only, no I/O; every other layer builds on this one.
"""
