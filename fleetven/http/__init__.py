"""HTTP to the VTN: the pooled HTTP/1.1 transport (:mod:`.transport`) and TLS (:mod:`.tls`).

The only layer that opens sockets.
"""
