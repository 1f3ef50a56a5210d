"""HTTP API and web page of capacities-kb."""
