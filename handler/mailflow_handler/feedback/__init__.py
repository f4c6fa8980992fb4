"""SES's events about sent mail (contract E): one `outbound.event` on the sending app's queue per event."""
