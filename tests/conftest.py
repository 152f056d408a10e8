pytest_plugins = ["jupyternetes_operator.testing.pytest_plugin", "pytester"]
