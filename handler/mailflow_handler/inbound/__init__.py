"""Inbound path: SES receipt (S3 + Lambda actions) -> per-app SQS queues."""
