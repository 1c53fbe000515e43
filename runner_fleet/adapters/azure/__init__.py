"""Azure Resource Manager adapters. The modules using the Azure SDKs are imported only by queue and
timer work, never on the webhook path; `clouds` is plain data that settings validation reads."""
