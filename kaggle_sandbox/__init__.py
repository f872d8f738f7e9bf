"""A Kaggle-compatible sandbox server that the official `kaggle` client runs against.

Start it with `python -m kaggle_sandbox`; see README.md beside this file. Nothing
here imports Django or the `kaggle` package, so it can run anywhere Python can.
"""

DEFAULT_USERNAME = "wharf-demo"
DEFAULT_KEY = "wharf-demo-key"
DEFAULT_ORGANIZATION = "demo-lab"
DEFAULT_PORT = 7777
# A notebook the default user owns: a dataset cannot take its slug (kaggle-cli #361).
DEFAULT_NOTEBOOK = "wharf-demo-notebook"

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_NOTEBOOK",
    "DEFAULT_ORGANIZATION",
    "DEFAULT_PORT",
    "DEFAULT_USERNAME",
]
