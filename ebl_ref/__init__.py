"""ebl-ref: energy-based learning rules on deep convolutional Hopfield networks (NumPy/CuPy)."""
