"""stylebench: does it matter how you build a Keras model? Measure it.

Keras 3 picks its backend once, at first import, from KERAS_BACKEND. A trial's
backend is configuration (`backend=tensorflow|jax|torch`), selected by its process
before Keras is imported (bench/backends.py); for everything else (tests, `bench
verify` without --backend) TensorFlow is the default set here, before any module of
the package can import Keras; a user who exports KERAS_BACKEND keeps theirs.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
