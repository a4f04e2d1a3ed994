"""Everything HTTP served by `brisa api`: the REST API (`web.api`) and the browser UI (`web.ui`)."""
