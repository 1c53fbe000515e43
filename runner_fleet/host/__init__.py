"""Run the Function App on this machine: its own HTTP routes, queue triggers and timers.

Azure Functions Core Tools cannot be assumed to install, and a wiring mistake in function_app.py
must fail locally too, so the routes, queue names and schedules are read from `function_app` itself.
This package imports azure.functions (to build trigger inputs); the core never does.
"""
