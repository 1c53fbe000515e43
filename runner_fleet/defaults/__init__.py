"""Built-in defaults shipped with the package (the example pools used by `demo` and `serve --simulate`)."""
