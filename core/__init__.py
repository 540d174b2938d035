"""What every tlsfit stage shares: error kinds, atomic writes, bounded input reading.

The bottom layer: core imports nothing of tlsfit's, every other package may import core.
"""
