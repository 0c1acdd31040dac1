"""The long-running service: the scheduler, the supervised delivery workers and the web server."""
