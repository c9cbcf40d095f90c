"""Start-up settings that must be in place before TensorFlow or Keras is imported.

`import attention_zoo` runs this first, so the package's own imports do not print
TensorFlow's C++ start-up lines. A value the user set in the environment is kept.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
