"""Services: orchestrate the domain, ask policy, write state and its audit event together."""
