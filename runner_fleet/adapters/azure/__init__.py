"""Azure Resource Manager adapters. Imported only by queue and timer work, never on the webhook path."""
