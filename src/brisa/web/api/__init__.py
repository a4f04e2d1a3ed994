"""The REST API, the worker-facing execution API, and (later) the web UI."""
