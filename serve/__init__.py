"""lipread's HTTP service and web page (``lipread serve``)."""
