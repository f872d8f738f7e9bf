"""The server-rendered UI, one module per concern. Views only read through selectors
and write through services; datasets/urls.py wires them."""
