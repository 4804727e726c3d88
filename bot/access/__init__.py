"""Who may call the web API and the dashboard: the operator's ``ADMIN_TOKEN`` or a per-tenant API key."""
