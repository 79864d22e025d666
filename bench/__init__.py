"""stylebench: does it matter how you build a Keras model? Measure it.

Keras 3 picks its backend once, at first import, from KERAS_BACKEND. The suite
runs on TensorFlow, so that choice is made here, before any module of the
package can import Keras; a user who exports KERAS_BACKEND keeps theirs.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
