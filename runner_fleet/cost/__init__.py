"""What runner VMs cost: hourly prices (`prices`) and what a released runner used (`metering`)."""
