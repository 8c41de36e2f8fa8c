"""Complete, runnable recipes that use kwarg_guard; each is its own subpackage."""
