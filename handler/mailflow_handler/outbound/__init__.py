"""Outbound path: app JSON on the outbound SQS queue -> validated, composed MIME -> SES."""
