"""runner-fleet's development entry points: the demo, `serve --simulate` and `doctor --simulate`.

Everything here runs the service against the simulators (`simulator`); it is installed for
development only (devkit/pyproject.toml) and reaches the `runner-fleet` command as a plugin.
"""
